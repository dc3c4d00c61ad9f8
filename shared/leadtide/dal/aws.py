"""Secrets Manager, EventBridge and SQS adapters. Clients are created on first use, then reused (boto3
itself is imported then too: a read-only API request never pays for it)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from leadtide.dal.base import StorageAdapter
from leadtide.models.events import EVENT_SOURCE, LeadEvent
from leadtide.ports import CommandQueue, EventPublisher, SecretStore


class PublishError(RuntimeError):
    """EventBridge or SQS refused some entries; the message names how many and why."""


class SecretsManagerStore(StorageAdapter, SecretStore):
    """Channel secrets in AWS Secrets Manager, read through a small in-process cache (``ttl_seconds``)."""

    def __init__(self, ttl_seconds: int = 300):
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("secretsmanager")

    def put(self, name: str, value: dict[str, str], tags: dict[str, str]) -> str:
        self._client.create_secret(
            Name=name,
            SecretString=json.dumps(value),
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        self._cache.pop(name, None)
        return name

    def get(self, name: str) -> dict[str, str]:
        hit = self._cache.get(name)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            raw = self._client.get_secret_value(SecretId=name)["SecretString"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                raise KeyError(name) from err
            raise
        value = json.loads(raw)
        self._cache[name] = (time.monotonic() + self._ttl, value)
        return value

    def delete(self, name: str) -> None:
        self._cache.pop(name, None)
        try:
            self._client.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


class EventBridgePublisher(StorageAdapter, EventPublisher):
    """Publishes :class:`LeadEvent` to the custom bus (source ``leadtide.leads``), 10 entries per call."""

    def __init__(self, bus_name: str):
        self._bus = bus_name

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("events")

    def publish(self, events: Sequence[LeadEvent]) -> None:
        entries = [
            {
                "Source": EVENT_SOURCE,
                "DetailType": str(e.type),
                "Detail": e.model_dump_json(),
                "EventBusName": self._bus,
                "Resources": [],
            }
            for e in events
        ]
        for start in range(0, len(entries), 10):
            chunk = entries[start : start + 10]
            result = self._client.put_events(Entries=chunk)
            if result.get("FailedEntryCount"):
                failed = [e for e in result["Entries"] if e.get("ErrorCode")]
                raise PublishError(f"{len(failed)} event(s) not published: {failed[0].get('ErrorCode')}")


class SqsQueue(StorageAdapter, CommandQueue):
    """A queue written with SendMessageBatch (10 messages per call)."""

    def __init__(self, queue_url: str):
        self._url = queue_url

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("sqs")

    def send(self, bodies: Sequence[str]) -> None:
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            if len(chunk) == 1:
                self._client.send_message(QueueUrl=self._url, MessageBody=chunk[0])
                continue
            result = self._client.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise PublishError(f"{len(result['Failed'])} message(s) not queued: {result['Failed'][0]}")
