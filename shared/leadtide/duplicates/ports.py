"""The data-access interfaces of duplicate detection and lead merges (DynamoDB/S3 implementations in
:mod:`leadtide.dal.duplicates`, in-memory fakes in the unit tests). Nothing here imports boto3."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadtide.models.common import IdentityKind
from leadtide.models.duplicates import DuplicatePair, MergeRecord, MergeStatus, PairStatus
from leadtide.models.leads import Activity, Lead


@dataclass
class ReplaceOutcome:
    """What a rescan changed: pairs written (new or re-scored), removed (no longer found), kept as reviewed."""

    written: int = 0
    removed: int = 0
    kept_reviewed: int = 0


class DuplicateRepository(ABC):
    """Candidate duplicate pairs of each tenant, and the lead fields detection reads."""

    @abstractmethod
    def iter_match_records(self, tenant_id: str) -> Iterator[MatchRecord]:
        """Every lead of the tenant, as the few fields matching reads (streamed, one page at a time)."""

    @abstractmethod
    def iter_tenant_ids(self) -> Iterator[str]:
        """Every tenant that has at least one lead (each once)."""

    @abstractmethod
    def replace_open_pairs(
        self, tenant_id: str, pairs: Sequence[CandidatePair], live_lead_ids: set[str], now: datetime
    ) -> ReplaceOutcome:
        """Make the stored open pairs equal ``pairs``: new ones written, changed scores rewritten, open pairs
        not found any more removed. Dismissed and merged pairs stay as they are (a dismissed pair is never
        re-opened) unless one of their leads is gone (not in ``live_lead_ids``)."""

    @abstractmethod
    def query_pairs(
        self, tenant_id: str, *, min_score: int, status: PairStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[DuplicatePair], str | None]:
        """One page of pairs with ``score >= min_score``, best first. Raises InvalidRequestError (cursor)."""

    @abstractmethod
    def get_pair(self, tenant_id: str, pair_id: str) -> DuplicatePair:
        """Raises DuplicatePairNotFoundError."""

    @abstractmethod
    def set_pair_status(
        self, tenant_id: str, pair_id: str, status: PairStatus, by: str | None
    ) -> DuplicatePair:
        """Change a pair's review status. Raises DuplicatePairNotFoundError."""

    @abstractmethod
    def delete_pairs(self, tenant_id: str, pair_ids: Sequence[str]) -> None:
        """Remove pairs (absent ones are ignored)."""


@dataclass
class LeadSnapshot:
    """A lead's stored state before a merge: the raw profile item (every attribute, as stored), the
    identity keys pointing at it and its timeline's sort keys."""

    lead_id: str
    lead: Lead
    raw_profile: dict[str, Any]
    identities: list[tuple[IdentityKind, str]]
    timeline_keys: list[str] = field(default_factory=list)


@dataclass
class MergeCommit:
    """The single transaction of a merge (or of an undo's profile step).

    ``survivor_set`` is applied to the survivor (None removes an attribute) on condition that its
    ``updated_at`` still equals ``survivor_updated_at``; ``delete_leads`` are removed on the same kind of
    condition; ``put_profiles`` (raw items) are created where absent; ``repoint`` moves identity keys from
    one lead to another (condition: still pointing at the old one); ``counters`` are ADDed;
    ``add_activity``/``delete_activity_sk`` touch the survivor's timeline; the merge record moves from
    ``record_from`` to ``record_to`` in the same transaction.
    """

    tenant_id: str
    merge_id: str
    survivor_id: str
    survivor_updated_at: datetime
    survivor_set: dict[str, Any] = field(default_factory=dict)
    survivor_raw: dict[str, Any] | None = None  # undo: put this raw profile instead of ``survivor_set``
    keep_current: list[str] = field(default_factory=list)  # undo: attributes copied from the stored survivor
    strip_restored: list[str] = field(default_factory=list)  # undo: attributes left out of ``put_profiles``
    delete_leads: dict[str, datetime] = field(default_factory=dict)  # lead id -> expected updated_at
    put_profiles: list[dict[str, Any]] = field(default_factory=list)
    repoint: list[tuple[IdentityKind, str, str, str]] = field(default_factory=list)  # kind, value, old, new
    counters: dict[str, int] = field(default_factory=dict)
    add_activity: Activity | None = None
    delete_activity_sk: str | None = None
    record_from: MergeStatus = MergeStatus.PENDING
    record_to: MergeStatus = MergeStatus.PROFILES_MERGED
    record_doc: MergeRecord | None = None


class MergeStore(ABC):
    """Merge records (journal + before-images) and the storage steps of a merge and its undo."""

    @abstractmethod
    def snapshot(self, tenant_id: str, lead_id: str) -> LeadSnapshot:
        """The lead's raw profile, identity keys and timeline keys. Raises LeadNotFoundError."""

    @abstractmethod
    def create_record(self, record: MergeRecord, before: dict[str, Any]) -> None:
        """Store a new merge record (status pending) with its before-images (inline when small, else in
        the artifacts bucket)."""

    @abstractmethod
    def get_record(self, tenant_id: str, merge_id: str) -> MergeRecord:
        """Raises MergeNotFoundError."""

    @abstractmethod
    def get_before(self, tenant_id: str, merge_id: str) -> dict[str, Any]:
        """The before-images stored with the record. Raises MergeNotFoundError."""

    @abstractmethod
    def list_records(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[MergeRecord], str | None]:
        """Merge history, newest first. Raises InvalidRequestError (cursor)."""

    @abstractmethod
    def save_record(self, record: MergeRecord, *, expected: MergeStatus) -> None:
        """Replace the record's public doc and status, on condition that its status is ``expected``.

        Raises:
            MergeConflictError: the status moved meanwhile (another worker or request).
        """

    @abstractmethod
    def commit(self, commit: MergeCommit) -> None:
        """Apply a :class:`MergeCommit` in one transaction.

        Raises:
            MergeConflictError: a condition failed (a lead changed or vanished, an identity moved, the
                record's status moved); nothing was written.
        """

    @abstractmethod
    def move_timeline(
        self, tenant_id: str, from_lead: str, to_lead: str, keys: Sequence[str], *, chunk: int = 25
    ) -> int:
        """Re-key timeline entries ``keys`` from one lead to another (same sort key, ``lead_id`` in the
        entry rewritten, message markers repointed), chunk by chunk, each chunk one transaction. Entries
        already moved are skipped, so a repeated call is harmless. Returns the number moved now."""

    @abstractmethod
    def timeline_keys(self, tenant_id: str, lead_id: str) -> list[str]:
        """Sort keys of the lead's timeline entries (``A#...``) currently stored."""

    @abstractmethod
    def raw_profile(self, tenant_id: str, lead_id: str) -> dict[str, Any] | None:
        """The lead's raw profile item (None when absent)."""


class ListMemberships(ABC):
    """Static-list memberships, moved from merged leads to the survivor (leadtide.lists, when present)."""

    @abstractmethod
    def move(self, tenant_id: str, from_lead_id: str, to_lead_id: str) -> Any:
        """Move every membership of ``from_lead_id`` to ``to_lead_id``."""


class MergeEngagement(ABC):
    """Behaviour engagement records (``sk=ENGAGEMENT``) across a merge: folded into the survivor by the
    merge, separated again by its undo (pure rules in :mod:`leadtide.duplicates.engagement`)."""

    @abstractmethod
    def fold(self, tenant_id: str, merge_id: str, survivor_id: str, merged_id: str) -> bool:
        """Fold ``merged_id``'s engagement record into the survivor's and delete it, keeping copies of
        both under the merge for undo, in one transaction (the survivor's under its optimistic
        ``version``); then refresh the survivor profile's activity summary. Idempotent: a merged lead
        whose record is already folded (or that had none) changes nothing. Returns True when folded now.
        """

    @abstractmethod
    def restore(self, tenant_id: str, merge_id: str, survivor_id: str, merged_ids: Sequence[str]) -> bool:
        """Undo :meth:`fold`: the survivor's record back to its copy (exactly, when it did not change since
        the last fold; else the copy plus the occurrences that arrived since) and each merged lead's
        record back from its copy; the copies deleted; profile summaries refreshed. Idempotent. Returns
        True when occurrences that arrived after the merge were kept on the survivor."""


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """The fields of a lead that matching reads (identity values already normalised by capture)."""

    lead_id: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    instagram_id: str | None = None
    company: str | None = None


@dataclass(slots=True)
class CandidatePair:
    """A possible duplicate: ``lead_a`` < ``lead_b`` (lexicographic), score 0-100 and the reasons."""

    lead_a: str
    lead_b: str
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class EngagementRecord:
    """One lead's engagement record: ``occ`` = ``{event_type: [[epoch seconds, dedupe id], ...]}``,
    ``counts`` = ``{event_type: all-time count}``, the latest event instant and the optimistic version."""

    occ: dict[str, list[list[Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    last_event_at: datetime | None = None
    version: int = 0
