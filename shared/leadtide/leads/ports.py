"""Ports of leadtide.leads: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadtide.models.backfill import BackfillRunRecord
from leadtide.models.common import ChannelType, IdentityKind
from leadtide.models.errors import (
    LeadNotFoundError,
)
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

        With ``touch_lead`` the activity is an interaction: a message counts in ``message_count``,
        ``fill_fields`` fills profile fields that are still empty, and the lead's ``last_activity_at`` and
        preview move to the activity's time unless the lead has later activity (never backward, never
        before ``created_at``: docs/data-model.md, "Last activity"); ``new_identities`` adds identity keys
        the lead did not have; all in the same transaction.

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
        self,
        tenant_id: str,
        lead_id: str,
        *,
        limit: int,
        cursor: str | None,
        types: Collection[str] = (),
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> tuple[list[Activity], str | None]:
        """The lead's timeline, oldest first, one page of up to ``limit`` entries: only those of ``types``
        (activity types; empty: every type) that occurred within the inclusive ``occurred_from`` ..
        ``occurred_to`` bounds (either may be None). A selective filter may give fewer entries and a cursor.

        Raises:
            LeadNotFoundError; InvalidRequestError: a malformed cursor, or one from another lead or range.
        """

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
    def dashboard(self, tenant_id: str, *, visible_to: str | None = None) -> DashboardSummary:
        """Lead counts in total, by status and by source channel: the tenant's counters, or with
        ``visible_to`` (a rep's user id, :attr:`Principal.visible_to`) counted over the leads that user
        may see (unassigned or theirs)."""

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


IdentityKey = tuple[str, str]
"""``(kind, value)``: ``("email", "a@b.example")``, ``("phone", "+14155550100")``, ``("custom:<key>", v)``."""


@dataclass(frozen=True)
class StoredProfile:
    """A lead profile as one backfill step reads it.

    ``stored``: each derived attribute present on the item, as stored (absent: missing). ``fresh``: each
    derived attribute a fresh write of the same lead stores (``lead_item_values``). ``identity_keys``: the
    profile's ``identity_keys`` entries. ``candidates``: identity keys the lead may own (its stored entries,
    contact fields and scalar custom-field values); only those whose item names the lead count.
    ``version``: opaque to the logic, what the store's conditional write compares (the item as read).
    """

    lead_id: str
    stored: Mapping[str, Any]
    fresh: Mapping[str, Any]
    identity_keys: frozenset[IdentityKey] = frozenset()
    candidates: tuple[IdentityKey, ...] = ()
    version: Any = None


@dataclass(frozen=True)
class ProfilePatch:
    """What to write to one profile: derived attributes to SET (name -> value) and identity keys to ADD to
    ``identity_keys``. Never removes anything."""

    lead_id: str
    set: dict[str, Any] = field(default_factory=dict)
    add_identities: frozenset[IdentityKey] = frozenset()


@dataclass
class BackfillCounts:
    """Counts of one step or of a whole run. ``scanned``: profiles read; ``updated``: written;
    ``up_to_date``: nothing to write; ``skipped_concurrent``: changed (or deleted) between read and write,
    left for the next run; ``unreadable``: items that do not parse as a lead (left alone, logged).
    ``attributes``: attribute name -> profiles it was written to (``identity_keys`` included)."""

    scanned: int = 0
    updated: int = 0
    up_to_date: int = 0
    skipped_concurrent: int = 0
    unreadable: int = 0
    attributes: dict[str, int] = field(default_factory=dict)

    def add(self, other: BackfillCounts) -> BackfillCounts:
        """The sum of both (a new object)."""
        attributes = dict(self.attributes)
        for name, n in other.attributes.items():
            attributes[name] = attributes.get(name, 0) + n
        return BackfillCounts(
            scanned=self.scanned + other.scanned,
            updated=self.updated + other.updated,
            up_to_date=self.up_to_date + other.up_to_date,
            skipped_concurrent=self.skipped_concurrent + other.skipped_concurrent,
            unreadable=self.unreadable + other.unreadable,
            attributes=attributes,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BackfillCounts:
        """Parse the ``totals`` a step message carries (missing or malformed values count as 0)."""
        data = data or {}

        def num(value: Any) -> int:
            return value if isinstance(value, int) and value >= 0 else 0

        raw_attrs = data.get("attributes")
        attrs = {str(k): num(v) for k, v in raw_attrs.items()} if isinstance(raw_attrs, dict) else {}
        return cls(
            scanned=num(data.get("scanned")),
            updated=num(data.get("updated")),
            up_to_date=num(data.get("up_to_date")),
            skipped_concurrent=num(data.get("skipped_concurrent")),
            unreadable=num(data.get("unreadable")),
            attributes=attrs,
        )


class ProfileBackfillStore(ABC):
    """Data access of the backfill (DynamoDB: :class:`leadtide.dal.lead_backfill.DynamoProfileBackfillStore`)."""

    @abstractmethod
    def page_profiles(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[StoredProfile], int, str | None]:
        """One page of the tenant's profiles from its per-tenant leads index: (profiles, unreadable items
        skipped, cursor of the next page or None at the end).

        Raises:
            InvalidRequestError: ``cursor`` is malformed or another tenant's.
        """

    @abstractmethod
    def identity_owners(self, tenant_id: str, keys: Sequence[IdentityKey]) -> dict[IdentityKey, str]:
        """The lead id each existing identity item of ``keys`` names (missing keys are left out)."""

    @abstractmethod
    def apply(self, tenant_id: str, profile: StoredProfile, patch: ProfilePatch) -> bool:
        """Write ``patch`` on condition that the profile is still as read (``profile.version``); False when
        it changed or was deleted meanwhile (nothing written)."""


class BackfillRunRepository(ABC):
    """Backfill run records and their progress (DynamoDB:
    :class:`leadtide.dal.backfill_runs.DynamoBackfillRunRepository`).

    Progress moves only through :meth:`record_step`, conditioned on the step number, so a step that SQS
    delivers twice counts once.
    """

    @abstractmethod
    def create(self, record: BackfillRunRecord) -> None:
        """Store a new run (status ``running``, ``steps`` 0, counts 0), on condition that it does not exist."""

    @abstractmethod
    def get(self, tenant_id: str, run_id: str) -> BackfillRunRecord:
        """The run with its current totals (strongly consistent).

        Raises:
            BackfillRunNotFoundError: no such run in the tenant.
        """

    @abstractmethod
    def list(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[BackfillRunRecord], str | None]:
        """One page of the tenant's runs, newest first, and the cursor of the next page (None at the end).

        Raises:
            InvalidRequestError: the cursor is malformed or from another tenant.
        """

    @abstractmethod
    def record_step(
        self,
        tenant_id: str,
        run_id: str,
        *,
        step: int,
        counts: BackfillCounts,
        cursor: str | None,
        finished_at: datetime | None,
    ) -> bool:
        """Apply step ``step`` atomically: add ``counts`` (each ``attributes`` entry too), set ``steps`` =
        ``step`` and the next ``cursor``, reset ``attempts``; with ``finished_at``, mark the run
        ``completed``. Only if the run is ``running`` and ``steps`` = ``step - 1``; False (nothing written)
        otherwise, e.g. a redelivered step.

        Raises:
            BackfillRunNotFoundError: no such run.
        """

    @abstractmethod
    def mark_queued(self, tenant_id: str, run_id: str, step: int) -> None:
        """Note that step ``step`` is on the queue (``queued_step`` only moves forward)."""

    @abstractmethod
    def note_attempt(self, tenant_id: str, run_id: str) -> int:
        """Count one failed attempt of the current step (ADD 1); returns the new count."""

    @abstractmethod
    def fail(self, tenant_id: str, run_id: str, *, error: str, finished_at: datetime) -> bool:
        """Mark a ``running`` run ``failed`` with ``error``; False when it was no longer running."""


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
