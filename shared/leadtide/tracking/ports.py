"""The storage port of behaviour tracking and API keys (DynamoDB in leadtide.dal.tracking)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadtide.models.leads import Activity
from leadtide.models.tracking import ApiKey


@dataclass(frozen=True)
class EventToRecord:
    """A validated event for one lead: its timeline ``activity`` (type tracked_event) and identifiers."""

    event_id: str
    event_type: str
    occurred_at: datetime
    activity: Activity


class TrackingStore(ABC):
    """Tracked events (idempotency markers + timeline + engagement record) and API keys."""

    @abstractmethod
    def record_events(self, tenant_id: str, lead_id: str, events: Sequence[EventToRecord]) -> list[bool]:
        """Record events of one lead: per event, a marker (conditional on its event_id being new), its
        timeline activity and its occurrence on the lead's engagement record, atomically per chunk; then
        the profile's ``last_activity_at`` moves forward and its activity summary (``last_engaged``,
        ``engaged_counts``: what ``activity.<type>`` conditions read) is refreshed.
        Returns, per event, True when recorded now and False when it was a duplicate.

        Raises:
            LeadNotFoundError: the lead does not exist in the tenant.
        """

    @abstractmethod
    def create_api_key(self, tenant_id: str, key: ApiKey, key_hash: str) -> None:
        """Store a key's lookup and listing entries (hash only)."""

    @abstractmethod
    def list_api_keys(self, tenant_id: str) -> list[ApiKey]:
        """The tenant's keys, newest first."""

    @abstractmethod
    def revoke_api_key(self, tenant_id: str, key_id: str, at: datetime) -> None:
        """Mark a key revoked. Raises ApiKeyNotFoundError."""

    @abstractmethod
    def find_api_key(self, key_id: str) -> tuple[str, str, datetime | None] | None:
        """(tenant_id, key_hash, revoked_at) of a key id, or None."""
