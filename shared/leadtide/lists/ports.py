"""Data-access interfaces of static lists and their background jobs (DynamoDB: leadtide.dal.lists and
leadtide.dal.list_jobs; in-memory fakes in tests/list_fakes.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadtide.lists.models import ListJobRecord, StaticList
from leadtide.models.auth import owner_visible
from leadtide.models.leads import LeadSummary


@dataclass(frozen=True)
class LeadRef:
    """What list operations need to know about a lead: its owner (visibility) and its lists."""

    lead_id: str
    owner_id: str | None
    list_ids: frozenset[str]


class ListRepository(ABC):
    """Static lists, their memberships and the ``list_ids`` set on each lead."""

    @abstractmethod
    def create_list(self, tenant_id: str, static_list: StaticList) -> None:
        """Store a new list."""

    @abstractmethod
    def list_lists(self, tenant_id: str) -> list[StaticList]:
        """Every list of the tenant (any order)."""

    @abstractmethod
    def get_list(self, tenant_id: str, list_id: str) -> StaticList:
        """Raises ListNotFoundError."""

    @abstractmethod
    def update_list(
        self, tenant_id: str, list_id: str, *, changes: dict[str, str | None], updated_at: datetime
    ) -> StaticList:
        """Set ``name``/``description`` (None clears the description). Raises ListNotFoundError."""

    @abstractmethod
    def delete_list(self, tenant_id: str, list_id: str) -> None:
        """Delete the list's meta item (memberships are purged separately). Raises ListNotFoundError."""

    @abstractmethod
    def add_member(
        self, tenant_id: str, list_id: str, lead_id: str, *, added_at: datetime, added_by: str | None
    ) -> bool:
        """Add one lead: membership item + the lead's ``list_ids`` + the list's count, in one transaction.

        Returns False when the lead was already a member (nothing written).

        Raises:
            ListNotFoundError: the list does not exist (or was deleted meanwhile).
            LeadNotFoundError: the lead does not exist.
        """

    @abstractmethod
    def remove_member(self, tenant_id: str, list_id: str, lead_id: str, *, adjust_count: bool = True) -> bool:
        """Remove one lead (membership item, the lead's ``list_ids``, the count when ``adjust_count``) in
        one transaction. Returns False when it was not a member. A deleted lead's set is simply gone."""

    @abstractmethod
    def page_members(
        self, tenant_id: str, list_id: str, *, limit: int, cursor: str | None, visible_to: str | None = None
    ) -> tuple[list[str], str | None]:
        """Lead ids of one page of members, newest added first, and the next cursor. With ``visible_to``
        (:attr:`Principal.visible_to`) only leads that user may see, the page filled up to ``limit`` of
        them (its size never tells how many were left out).

        Raises:
            InvalidRequestError: bad cursor.
        """

    def visible_member_counts(self, tenant_id: str, visible_to: str) -> dict[str, int]:
        """Members of each list among the leads ``visible_to`` may see (list id -> count; lists without
        such members are absent). This default reads every list's members and their owners; the DynamoDB
        repository reads the condition index once instead."""
        counts: dict[str, int] = {}
        for static_list in self.list_lists(tenant_id):
            ids = list(self.iter_member_ids(tenant_id, static_list.list_id))
            refs: dict[str, LeadRef] = {}
            for start in range(0, len(ids), 100):
                refs.update(self.lead_refs(tenant_id, ids[start : start + 100]))
            counts[static_list.list_id] = sum(
                1 for ref in refs.values() if owner_visible(ref.owner_id, visible_to)
            )
        return counts

    @abstractmethod
    def iter_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        """Every member's lead id (any order)."""

    @abstractmethod
    def lists_with_member(self, tenant_id: str, lead_id: str, list_ids: Sequence[str]) -> set[str]:
        """The ids among ``list_ids`` that have ``lead_id`` as a member, read from the membership items
        (for a lead whose profile, and with it its ``list_ids``, is gone)."""

    @abstractmethod
    def lead_refs(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, LeadRef]:
        """Owner and lists of each existing lead among ``lead_ids`` (missing ones are left out)."""

    @abstractmethod
    def lead_summaries(self, tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
        """Inbox rows of the existing leads among ``lead_ids``, in the given order."""


class ListJobRepository(ABC):
    """Background jobs of static lists (a filter add past the synchronous limit) and their progress.

    Progress moves only through :meth:`record_step`, conditioned on the step number, so a job step that
    SQS delivers twice counts once.
    """

    @abstractmethod
    def create(self, record: ListJobRecord) -> None:
        """Store a new job (``steps`` 0, ``queued_step`` 0, status ``running``)."""

    @abstractmethod
    def get(self, tenant_id: str, list_id: str, job_id: str) -> ListJobRecord:
        """The job with its current counters (strongly consistent). Raises ListJobNotFoundError."""

    @abstractmethod
    def list_jobs(
        self, tenant_id: str, list_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[ListJobRecord], str | None]:
        """One page of the list's jobs, newest first (job ids sort by creation time), and the cursor of the
        next page (None at the end).

        Raises:
            InvalidRequestError: ``cursor`` is malformed, or from another list or tenant.
        """

    @abstractmethod
    def record_step(
        self,
        tenant_id: str,
        list_id: str,
        job_id: str,
        *,
        step: int,
        added: int,
        already_members: int,
        cursor: str | None,
        finished_at: datetime | None,
    ) -> bool:
        """Apply step ``step`` atomically: ADD its counts, set ``steps`` = ``step`` and the next ``cursor``,
        reset ``attempts``; with ``finished_at``, mark the job ``completed``. Only if the job is ``running``
        and ``steps`` = ``step - 1``; False (nothing written) otherwise, e.g. a redelivered step.

        Raises:
            ListJobNotFoundError: no such job.
        """

    @abstractmethod
    def mark_queued(self, tenant_id: str, list_id: str, job_id: str, step: int) -> None:
        """Note that step ``step`` is on the queue (``queued_step`` only moves forward)."""

    @abstractmethod
    def note_attempt(self, tenant_id: str, list_id: str, job_id: str) -> int:
        """Count one failed attempt of the current step (ADD 1); returns the new count."""

    @abstractmethod
    def fail(self, tenant_id: str, list_id: str, job_id: str, *, error: str, finished_at: datetime) -> bool:
        """Mark a ``running`` job ``failed`` with ``error``; False when it was no longer running."""
