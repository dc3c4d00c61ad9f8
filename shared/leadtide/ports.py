"""Ports of leadtide: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from leadtide.models.events import LeadEvent


class SecretStore(ABC):
    """Channel secrets (app secrets, auth tokens) kept in AWS Secrets Manager, never in DynamoDB."""

    @abstractmethod
    def put(self, name: str, value: dict[str, str], tags: dict[str, str]) -> str:
        """Create the secret; return its name."""

    @abstractmethod
    def get(self, name: str) -> dict[str, str]:
        """Read (and cache for a few minutes) a secret's JSON value. Raises KeyError when absent."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Schedule the secret's deletion (ignores an absent secret)."""


class EventPublisher(ABC):
    """Publishes domain events to the event bus."""

    @abstractmethod
    def publish(self, events: Sequence[LeadEvent]) -> None:
        """Publish all events or raise (a partial failure raises too, so the caller's batch retries)."""


class CommandQueue(ABC):
    """A work queue (the ingest queue, the scoring queue)."""

    @abstractmethod
    def send(self, bodies: Sequence[str]) -> None:
        """Send message bodies (JSON strings); raise if any could not be queued."""
