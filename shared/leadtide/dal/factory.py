"""Process-wide data-access objects, built on first use from the settings (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from leadtide.dal.ports import (
    ChannelRepository,
    CommandQueue,
    DeliveryStore,
    EventPublisher,
    LeadRepository,
    MessageTextStore,
    SecretStore,
)
from leadtide.ml.ports import ArtifactStore, ModelRegistryRepository, TrainingDataSource
from leadtide.settings import get_settings

if TYPE_CHECKING:
    from leadtide.dal.bulk import BulkActionRepository
    from leadtide.dal.custom_fields import CustomFieldRepository
    from leadtide.dal.exports import ArtifactStorage, ExportRepository
    from leadtide.imports.ports import ImportArtifacts, ImportRepository, LeadBulkStore
    from leadtide.leads.backfill import BackfillRunRepository, ProfileBackfillStore
    from leadtide.lists.ports import ListJobRepository, ListRepository
    from leadtide.scoring.store import ScoringStore
    from leadtide.segments.ports import SegmentRepository
    from leadtide.tracking.store import TrackingStore


def _bind() -> None:
    from leadtide.dal.items import bind_tables

    settings = get_settings()
    bind_tables(settings.leads_table, settings.channels_table)


@lru_cache(maxsize=1)
def get_lead_repository() -> LeadRepository:
    """The DynamoDB lead repository bound to ``LEADS_TABLE``."""
    from leadtide.dal.leads import DynamoLeadRepository

    _bind()
    return DynamoLeadRepository(message_texts=get_message_text_store())


@lru_cache(maxsize=1)
def get_delivery_store() -> DeliveryStore:
    """Claim-checked deliveries (``deliveries/``) in ``ARTIFACTS_BUCKET``."""
    from leadtide.dal.deliveries import S3DeliveryStore

    return S3DeliveryStore(get_settings().artifacts_bucket)


@lru_cache(maxsize=1)
def get_message_text_store() -> MessageTextStore:
    """Whole texts of truncated message activities (``message-texts/``) in ``ARTIFACTS_BUCKET``."""
    from leadtide.dal.deliveries import S3MessageTextStore

    return S3MessageTextStore(get_settings().artifacts_bucket)


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


@lru_cache(maxsize=1)
def get_model_registry() -> ModelRegistryRepository:
    """The ML model registry (versions, pointer, outcomes) in ``LEADS_TABLE``."""
    from leadtide.dal.ml import DynamoModelRegistry

    _bind()
    return DynamoModelRegistry()


@lru_cache(maxsize=1)
def get_training_data() -> TrainingDataSource:
    """The tenant's converted/lost leads, read from ``LEADS_TABLE``."""
    from leadtide.dal.ml import DynamoTrainingData

    _bind()
    return DynamoTrainingData()


@lru_cache(maxsize=1)
def get_artifact_store() -> ArtifactStore:
    """Model artifacts in ``ARTIFACTS_BUCKET``."""
    from leadtide.dal.ml import S3ArtifactStore

    return S3ArtifactStore(get_settings().artifacts_bucket)


@lru_cache(maxsize=1)
def get_training_queue() -> CommandQueue:
    """The training queue (``TRAINING_QUEUE_URL``)."""
    from leadtide.dal.aws import SqsQueue

    return SqsQueue(get_settings().training_queue_url)


@lru_cache(maxsize=1)
def get_export_repository() -> ExportRepository:
    """Export records in ``LEADS_TABLE``."""
    from leadtide.dal.exports import DynamoExportRepository

    _bind()
    return DynamoExportRepository()


@lru_cache(maxsize=1)
def get_bulk_action_repository() -> BulkActionRepository:
    """Bulk-action records, progress and chunk markers in ``LEADS_TABLE``."""
    from leadtide.dal.bulk import DynamoBulkActionRepository

    _bind()
    return DynamoBulkActionRepository()


@lru_cache(maxsize=1)
def get_export_storage() -> ArtifactStorage:
    """Export files and bulk-action failure reports in ``ARTIFACTS_BUCKET``."""
    from leadtide.dal.exports import S3ArtifactStorage

    return S3ArtifactStorage(get_settings().artifacts_bucket)


@lru_cache(maxsize=1)
def get_custom_field_repository() -> CustomFieldRepository:
    """Custom field definitions in ``LEADS_TABLE``."""
    from leadtide.dal.custom_fields import DynamoCustomFieldRepository

    _bind()
    return DynamoCustomFieldRepository()


@lru_cache(maxsize=1)
def get_list_repository() -> ListRepository:
    """Static lists and their memberships in ``LEADS_TABLE``."""
    from leadtide.dal.lists import DynamoListRepository

    _bind()
    return DynamoListRepository()


@lru_cache(maxsize=1)
def get_list_job_repository() -> ListJobRepository:
    """Background jobs of static lists (filter adds) in ``LEADS_TABLE``."""
    from leadtide.dal.list_jobs import DynamoListJobRepository

    _bind()
    return DynamoListJobRepository()


@lru_cache(maxsize=1)
def get_segment_repository() -> SegmentRepository:
    """Segments, their memberships and the lead records they evaluate, in ``LEADS_TABLE``."""
    from leadtide.dal.segments import DynamoSegmentRepository

    _bind()
    return DynamoSegmentRepository()


@lru_cache(maxsize=1)
def get_scoring_store() -> ScoringStore:
    """Scoring models, engagement records and scores over the leads table."""
    from leadtide.dal.scoring_models import DynamoScoringStore

    _bind()
    return DynamoScoringStore()


@lru_cache(maxsize=1)
def get_tracking_store() -> TrackingStore:
    """Tracked behaviour events and API keys over the leads table."""
    from leadtide.dal.tracking import DynamoTrackingStore

    _bind()
    return DynamoTrackingStore()


@lru_cache(maxsize=1)
def get_import_repository() -> ImportRepository:
    """Import records, chunk markers and saved mappings in ``LEADS_TABLE``."""
    from leadtide.dal.imports import DynamoImportRepository

    _bind()
    return DynamoImportRepository()


@lru_cache(maxsize=1)
def get_lead_bulk_store() -> LeadBulkStore:
    """Bulk lead reads/writes of imports (BatchGetItem, TransactWriteItems) on ``LEADS_TABLE``."""
    from leadtide.dal.imports import DynamoLeadBulkStore

    _bind()
    return DynamoLeadBulkStore(get_settings().leads_table)


@lru_cache(maxsize=1)
def get_import_artifacts() -> ImportArtifacts:
    """Import files (uploads, chunks, plans, error reports) in ``ARTIFACTS_BUCKET``."""
    from leadtide.dal.imports import S3ImportArtifacts

    return S3ImportArtifacts(get_settings().artifacts_bucket)


@lru_cache(maxsize=1)
def get_profile_backfill_store() -> ProfileBackfillStore:
    """Lead-profile backfill reads and conditional writes (``leads.backfill`` jobs) on ``LEADS_TABLE``."""
    from leadtide.dal.lead_backfill import DynamoProfileBackfillStore

    _bind()
    return DynamoProfileBackfillStore()


@lru_cache(maxsize=1)
def get_backfill_run_repository() -> BackfillRunRepository:
    """Lead-profile backfill run records (``GET /admin/backfill/{run_id}``) in ``LEADS_TABLE``."""
    from leadtide.dal.backfill_runs import DynamoBackfillRunRepository

    _bind()
    return DynamoBackfillRunRepository()


def reset() -> None:
    """Forget every cached object and the settings (tests and the local runtime switch environments)."""
    for fn in (
        get_lead_repository,
        get_delivery_store,
        get_message_text_store,
        get_channel_repository,
        get_secret_store,
        get_event_publisher,
        get_ingest_queue,
        get_scoring_queue,
        get_jobs_queue,
        get_list_repository,
        get_list_job_repository,
        get_segment_repository,
        get_custom_field_repository,
        get_export_repository,
        get_bulk_action_repository,
        get_export_storage,
        get_model_registry,
        get_training_data,
        get_artifact_store,
        get_training_queue,
        get_scoring_store,
        get_tracking_store,
        get_import_repository,
        get_lead_bulk_store,
        get_import_artifacts,
        get_profile_backfill_store,
        get_backfill_run_repository,
        get_settings,
    ):
        fn.cache_clear()
