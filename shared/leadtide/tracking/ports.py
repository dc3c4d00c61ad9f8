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


@dataclass(frozen=True)
class StoredApiKey:
    """What authenticating a key needs from its lookup entry: the tenant, SHA-256 hex of the key, when it
    was revoked (None: live) and when its use was last recorded (None: never)."""

    tenant_id: str
    key_hash: str
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


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
    def find_api_key(self, key_id: str) -> StoredApiKey | None:
        """The lookup entry of a key id (one GetItem), or None."""

    @abstractmethod
    def record_api_key_use(self, key_id: str, at: datetime, *, unless_since: datetime) -> bool:
        """Set the key's ``last_used_at`` to ``at`` unless it was recorded after ``unless_since`` already
        (one conditional write: concurrent uses within the interval write once). Returns whether it
        wrote; False too when the key is gone."""
