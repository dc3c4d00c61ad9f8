"""Process-wide data-access objects, built on first use from the settings (never at import time)."""

from __future__ import annotations

from functools import lru_cache

from leadtide.dal.ports import ChannelRepository, CommandQueue, EventPublisher, LeadRepository, SecretStore
from leadtide.settings import get_settings


def _bind() -> None:
    from leadtide.dal.items import bind_tables

    settings = get_settings()
    bind_tables(settings.leads_table, settings.channels_table)


@lru_cache(maxsize=1)
def get_lead_repository() -> LeadRepository:
    """The DynamoDB lead repository bound to ``LEADS_TABLE``."""
    from leadtide.dal.leads import DynamoLeadRepository

    _bind()
    return DynamoLeadRepository()


@lru_cache(maxsize=1)
def get_channel_repository() -> ChannelRepository:
    """The DynamoDB channel repository bound to ``CHANNELS_TABLE``."""
    from leadtide.dal.channels import DynamoChannelRepository

    _bind()
    return DynamoChannelRepository()


@lru_cache(maxsize=1)
def get_secret_store() -> SecretStore:
    """Secrets Manager with the configured cache time."""
    from leadtide.dal.aws import SecretsManagerStore

    return SecretsManagerStore(ttl_seconds=get_settings().secret_cache_seconds)


@lru_cache(maxsize=1)
def get_event_publisher() -> EventPublisher:
    """EventBridge publisher for ``EVENT_BUS_NAME``."""
    from leadtide.dal.aws import EventBridgePublisher

    return EventBridgePublisher(get_settings().event_bus_name)


@lru_cache(maxsize=1)
def get_ingest_queue() -> CommandQueue:
    """The ingest queue (``INGEST_QUEUE_URL``)."""
    from leadtide.dal.aws import SqsQueue

    return SqsQueue(get_settings().ingest_queue_url)


@lru_cache(maxsize=1)
def get_scoring_queue() -> CommandQueue:
    """The scoring queue (``SCORING_QUEUE_URL``)."""
    from leadtide.dal.aws import SqsQueue

    return SqsQueue(get_settings().scoring_queue_url)


@lru_cache(maxsize=1)
def get_jobs_queue() -> CommandQueue:
    """The background-jobs queue (``JOBS_QUEUE_URL``)."""
    from leadtide.dal.aws import SqsQueue

    return SqsQueue(get_settings().jobs_queue_url)


def reset() -> None:
    """Forget every cached object and the settings (tests and the local runtime switch environments)."""
    for fn in (
        get_lead_repository,
        get_channel_repository,
        get_secret_store,
        get_event_publisher,
        get_ingest_queue,
        get_scoring_queue,
        get_jobs_queue,
        get_settings,
    ):
        fn.cache_clear()
