"""The data-access interfaces the logic layer depends on (implemented over DynamoDB/AWS in this package,
and by in-memory fakes in the tests). Nothing here imports boto3."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadtide.models.channels import Channel, ChannelRoute
from leadtide.models.common import ChannelType, IdentityKind
from leadtide.models.errors import LeadNotFoundError
from leadtide.models.events import LeadEvent
from leadtide.models.leads import Activity, DashboardSummary, Lead, LeadQuery
from leadtide.models.messages import DeliveryStatus


@dataclass
class LeadChanges:
    """Attribute changes for one lead update: ``set`` values (None clears), counters, dashboards.

    ``old_status``/``new_status`` and ``source`` keep the dashboard counters exact in the same write.
    """

    set: dict[str, Any] = field(default_factory=dict)
    add_identities: list[tuple[IdentityKind, str]] = field(default_factory=list)
    remove_identities: list[tuple[IdentityKind, str]] = field(default_factory=list)
    old_status: str | None = None
    new_status: str | None = None
    require_owner_in: tuple[str | None, ...] | None = None  # condition: current owner is one of these


class IdentityTakenError(Exception):
    """An identity key (phone/email/instagram) already points at another lead. ``lead_id`` names it."""

    def __init__(self, kind: str, value: str, lead_id: str | None):
        super().__init__(f"{kind} {value} already belongs to lead {lead_id}")
        self.kind = kind
        self.value = value
        self.lead_id = lead_id


class LeadRepository(ABC):
    """Leads, identities, timeline, counters and scores of every tenant (tenant id is always explicit)."""

    @abstractmethod
    def lookup_identities(
        self, tenant_id: str, keys: Sequence[tuple[IdentityKind, str]]
    ) -> dict[tuple[IdentityKind, str], str]:
        """Map each identity key that exists to the lead id it points at (absent keys are left out)."""

    def find_lead_by_identity(self, tenant_id: str, keys: Sequence[tuple[IdentityKind, str]]) -> str | None:
        """Return the lead id the first matching identity (in ``keys`` order) points at, or None."""
        found = self.lookup_identities(tenant_id, keys)
        return next((found[k] for k in keys if k in found), None)

    @abstractmethod
    def create_lead(
        self,
        lead: Lead,
        identities: Sequence[tuple[IdentityKind, str]],
        activity: Activity | None = None,
    ) -> None:
        """Create lead + identity keys (+ first activity and its message marker) + counters in one transaction.

        Raises:
            IdentityTakenError: an identity already exists (a concurrent or earlier lead owns it).
            DuplicateDeliveryError: the activity's provider message was already captured.
        """

    @abstractmethod
    def append_activity(
        self,
        tenant_id: str,
        activity: Activity,
        *,
        touch_lead: bool,
        fill_fields: dict[str, Any] | None = None,
        new_identities: Sequence[tuple[IdentityKind, str]] = (),
    ) -> None:
        """Add an activity (+ message marker when it has a provider id) to an existing lead's timeline.

        With ``touch_lead`` the lead's last_activity_at, message_count and preview move forward too (never
        backward), ``fill_fields`` fills profile fields that are still empty, and ``new_identities`` adds
        identity keys the lead did not have, all in the same transaction.

        Raises:
            DuplicateDeliveryError: the provider message was already captured.
            LeadNotFoundError: the lead does not exist (e.g. deleted meanwhile).
            IdentityTakenError: a new identity already belongs to another lead.
        """

    @abstractmethod
    def get_lead(self, tenant_id: str, lead_id: str) -> Lead:
        """Raises LeadNotFoundError."""

    def get_leads(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, Lead]:
        """The leads of ``lead_ids`` that exist, by id (absent ones are left out; no error). The DynamoDB
        implementation reads 100 per BatchGetItem call."""
        found: dict[str, Lead] = {}
        for lead_id in dict.fromkeys(lead_ids):
            try:
                found[lead_id] = self.get_lead(tenant_id, lead_id)
            except LeadNotFoundError:
                continue
        return found

    @abstractmethod
    def query_leads(self, tenant_id: str, query: LeadQuery) -> tuple[list[Lead], str | None]:
        """One page of leads and the opaque cursor of the next page (None at the end).

        Raises:
            InvalidRequestError: the cursor is malformed or belongs to another query/tenant.
        """

    @abstractmethod
    def update_lead(self, tenant_id: str, lead_id: str, changes: LeadChanges) -> Lead:
        """Apply ``changes`` atomically and return the updated lead.

        Raises:
            LeadNotFoundError, IdentityTakenError, ForbiddenError (``require_owner_in`` failed).
        """

    @abstractmethod
    def delete_lead(self, tenant_id: str, lead_id: str) -> Lead:
        """Delete the lead, every identity key still pointing at it (its own, those merged into it, an
        import's unique custom field), its timeline and history; return what was deleted.

        Raises:
            LeadNotFoundError; ConflictError: the lead kept changing while being deleted.
        """

    @abstractmethod
    def list_activities(
        self, tenant_id: str, lead_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[Activity], str | None]:
        """The lead's timeline, oldest first, one page. Raises InvalidRequestError for a bad cursor."""

    @abstractmethod
    def record_delivery_status(
        self,
        tenant_id: str,
        channel_type: ChannelType,
        provider_message_id: str,
        status: DeliveryStatus,
        occurred_at: datetime,
        errors: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """Record a delivery status on the message's marker (and its activity when known).

        Statuses only move forward (sent < delivered < read); ``failed`` always records. Returns True
        when the message is known to Leadtide.
        """

    @abstractmethod
    def retract_message(self, tenant_id: str, channel_type: ChannelType, provider_message_id: str) -> bool:
        """Mark a captured message as unsent by its sender (text kept for audit). True when it was known."""

    @abstractmethod
    def message_lead(self, tenant_id: str, channel_type: ChannelType, provider_message_id: str) -> str | None:
        """The id of the lead whose timeline holds a captured message now (merges move it), else None."""

    @abstractmethod
    def dashboard(self, tenant_id: str) -> DashboardSummary:
        """Lead counts in total, by status and by source channel."""

    @abstractmethod
    def recent_activities(self, tenant_id: str, lead_id: str, *, since: datetime) -> list[Activity]:
        """All activities since ``since`` (inclusive), oldest first (input of engagement scoring)."""

    @abstractmethod
    def save_score(
        self,
        tenant_id: str,
        lead_id: str,
        *,
        score: int,
        grade: str,
        breakdown: list[dict[str, Any]],
        scored_at: datetime,
        cause: str,
        previous_score: int | None,
        previous_grade: str | None,
    ) -> None:
        """Store the lead's score, grade, breakdown and a score-history entry in one transaction."""

    @abstractmethod
    def iter_lead_ids(self) -> Iterator[tuple[str, str]]:
        """Every (tenant_id, lead_id) of every tenant (nightly fan-out)."""


class ChannelRepository(ABC):
    """Channel records and the routing entries webhooks use to find a tenant."""

    @abstractmethod
    def create(
        self,
        tenant_id: str,
        channel: Channel,
        route_key: str,
        route: ChannelRoute,
        verify_token_hash: str | None,
    ) -> None:
        """Store channel + route (+ verify-token lookup) atomically.

        A web form gets its route (``find_route``); a provider channel gets the tenant's *claim* on the
        account (``find_claims``): other tenants' claims on the same account neither block it nor are told.

        Raises:
            ChannelConflictError: this tenant already claims the provider account, or the verify token is
                already used.
        """

    @abstractmethod
    def list(self, tenant_id: str) -> list[Channel]:
        """Every channel of the tenant, oldest first."""

    @abstractmethod
    def get(self, tenant_id: str, channel_id: str) -> tuple[Channel, str, str | None, str | None]:
        """(channel, route_key, verify_token_hash, secret_name). Raises ChannelNotFoundError."""

    @abstractmethod
    def delete(self, tenant_id: str, channel_id: str) -> None:
        """Remove channel, route and verify-token lookup. Raises ChannelNotFoundError."""

    @abstractmethod
    def find_route(self, channel_type: ChannelType, route_key: str) -> ChannelRoute | None:
        """The route of a web form (by form id); None when there is none."""

    @abstractmethod
    def find_claims(self, channel_type: ChannelType, route_key: str) -> Sequence[ChannelRoute]:
        """Every tenant's claim on a provider account (phone_number_id, Instagram account id,
        ``<AccountSid>:<E.164 number>``), each with ``route_key`` and ``status``: active claims first (the
        earliest activated first), then pending ones (the earliest claimed first). Strongly consistent."""

    @abstractmethod
    def activate(self, claim: ChannelRoute, now: datetime) -> bool:
        """Make a pending claim and its channel active (one transaction); False when it no longer is pending
        (activated concurrently, or disconnected)."""

    @abstractmethod
    def find_route_by_verify_token(self, channel_type: ChannelType, token_hash: str) -> ChannelRoute | None:
        """The route whose verify token hashes to ``token_hash`` (Meta's GET handshake)."""


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


class DeliveryStore(ABC):
    """Verified deliveries too large for a queue message (claim check, ``deliveries/`` in the artifacts
    bucket); see :class:`leadtide.models.messages.StoredDelivery`."""

    @abstractmethod
    def put(self, channel_type: ChannelType, data: bytes) -> str:
        """Store one delivery object (context line + body); return its key
        (``deliveries/<channel>/<yyyy-mm-dd>/<id>``)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object stored at ``key``. Raises KeyError when it is gone."""


@dataclass(frozen=True)
class StoredText:
    """A stored whole message text: the message it belongs to and its length in characters."""

    channel_type: ChannelType
    provider_message_id: str
    length: int


class MessageTextStore(ABC):
    """Whole texts of messages longer than a timeline activity keeps
    (:data:`leadtide.models.leads.ACTIVITY_TEXT_MAX_CHARS`), one UTF-8 text object per activity."""

    @abstractmethod
    def put(
        self,
        tenant_id: str,
        activity_id: str,
        text: str,
        *,
        channel_type: ChannelType,
        provider_message_id: str,
    ) -> None:
        """Store (or overwrite with the same) whole text of the message behind ``activity_id``."""

    @abstractmethod
    def find(self, tenant_id: str, activity_id: str) -> StoredText | None:
        """The stored text of ``activity_id`` (without the text itself), None when there is none."""

    @abstractmethod
    def presigned_get(self, tenant_id: str, activity_id: str, *, expires_in: int) -> str:
        """A GET URL of the text (``text/plain; charset=utf-8``) valid ``expires_in`` seconds."""

    @abstractmethod
    def delete(self, tenant_id: str, activity_ids: Sequence[str]) -> None:
        """Delete the texts of these activities (absent ones are ignored)."""
