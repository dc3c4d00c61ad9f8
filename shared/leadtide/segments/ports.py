"""Data-access interface of dynamic segments (DynamoDB: leadtide.dal.segments; in-memory fake in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadtide.models.auth import owner_visible
from leadtide.models.leads import LeadSummary
from leadtide.segments.models import Segment


class StaleSegmentError(Exception):
    """A membership write was refused because the segment's version moved (or the segment is gone):
    re-read the segment and evaluate again."""


@dataclass
class RecordPage:
    """One page of lead records read for evaluation.

    ``records``: lead records (attribute -> value, only the attributes asked for); ``next_key``: where
    the next page starts (None at the end); ``bytes_returned``: size of the returned (projected) data;
    ``calls``: Query calls made.
    """

    records: list[dict[str, Any]]
    next_key: dict[str, Any] | None
    bytes_returned: int = 0
    calls: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class SegmentRepository(ABC):
    """Segments, their memberships, and the lead records they are evaluated on."""

    @abstractmethod
    def create(self, tenant_id: str, segment: Segment) -> None:
        """Store a new segment."""

    @abstractmethod
    def list_segments(self, tenant_id: str) -> list[Segment]:
        """Every segment of the tenant (strongly consistent)."""

    @abstractmethod
    def get(self, tenant_id: str, segment_id: str) -> Segment:
        """Raises SegmentNotFoundError."""

    @abstractmethod
    def update(
        self,
        tenant_id: str,
        segment_id: str,
        changes: dict[str, Any],
        *,
        new_rules: bool,
        updated_at: datetime,
    ) -> Segment:
        """Set ``changes`` (name, description, include, exclude, time_dependent; None removes). With
        ``new_rules`` the version moves by one and the status becomes ``building``.

        Raises:
            SegmentNotFoundError.
        """

    @abstractmethod
    def delete(self, tenant_id: str, segment_id: str) -> None:
        """Delete the segment's meta item (memberships are purged separately). Raises SegmentNotFoundError."""

    @abstractmethod
    def mark_ready(self, tenant_id: str, segment_id: str, version: int, built_at: datetime) -> bool:
        """Status ``ready`` if the segment is still at ``version``; returns whether it was."""

    @abstractmethod
    def lead_record(self, tenant_id: str, lead_id: str) -> dict[str, Any] | None:
        """The lead profile as a record (attribute -> value), or None when the lead does not exist."""

    @abstractmethod
    def read_lead_records(
        self, tenant_id: str, attributes: Iterable[str], *, start_key: dict[str, Any] | None = None
    ) -> Iterator[RecordPage]:
        """The tenant's leads, newest created first, projected to ``attributes`` (plus ``lead_id``), one
        page (DynamoDB's 1 MB) at a time."""

    @property
    def condition_attributes(self) -> frozenset[str]:
        """Record attributes :meth:`read_condition_records` can return (empty: no condition index)."""
        return frozenset()

    def read_condition_records(self, tenant_id: str, attributes: Iterable[str]) -> Iterator[RecordPage]:
        """Every lead of the tenant from the condition index (a compact, sharded copy of the condition
        attributes), projected to ``attributes`` (each in :attr:`condition_attributes`) plus ``lead_id``;
        pages in no particular order (shards are read in parallel). ``next_key`` is informational only.

        Raises:
            ValueError: an attribute is not in :attr:`condition_attributes`.
        """
        raise NotImplementedError

    @abstractmethod
    def enter(
        self, tenant_id: str, segment_id: str, version: int, lead_id: str, *, created_at: Any, at: datetime
    ) -> bool:
        """Make the lead a member: membership item + the lead's ``segment_ids`` + count, one transaction,
        conditioned on the segment being at ``version``. False when already a member or the lead is gone.

        Raises:
            StaleSegmentError: the segment's version moved or the segment is gone.
        """

    @abstractmethod
    def exit(self, tenant_id: str, segment_id: str, lead_id: str, *, version: int | None) -> bool:
        """Remove the membership (and the id from the lead's set, and 1 from the count when the segment
        still exists). With ``version``, conditioned on the segment being at it. False when not a member.

        Raises:
            StaleSegmentError: ``version`` given and the segment moved on.
        """

    @abstractmethod
    def memberships_of(self, tenant_id: str, segment_ids: Sequence[str], lead_id: str) -> set[str]:
        """Which of ``segment_ids`` have a membership item for the lead (used once the lead is gone)."""

    @abstractmethod
    def page_members(
        self,
        tenant_id: str,
        segment_id: str,
        *,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> tuple[list[str], str | None]:
        """Lead ids of one page of members, newest created first. With ``visible_to``
        (:attr:`Principal.visible_to`) only leads that user may see, the page filled up to ``limit`` of
        them (its size never tells how many were left out). Raises InvalidRequestError (cursor)."""

    def visible_lead_ids(self, tenant_id: str, visible_to: str) -> set[str]:
        """Ids of the tenant's leads ``visible_to`` may see: one read of the condition index projected to
        ``owner_id`` (the profiles when there is no index)."""
        if "owner_id" in self.condition_attributes:
            pages = self.read_condition_records(tenant_id, ("owner_id",))
        else:
            pages = self.read_lead_records(tenant_id, ("owner_id",))
        return {
            record["lead_id"]
            for page in pages
            for record in page.records
            if owner_visible(record.get("owner_id"), visible_to)
        }

    def visible_member_counts(
        self, tenant_id: str, segment_ids: Sequence[str], visible_to: str
    ) -> dict[str, int]:
        """Members of each of ``segment_ids`` among the leads ``visible_to`` may see (segment id -> count):
        :meth:`visible_lead_ids` once, then each segment's member ids (one key-only Query each)."""
        if not segment_ids:
            return {}
        visible = self.visible_lead_ids(tenant_id, visible_to)
        return {
            segment_id: sum(
                1 for lead_id in self.iter_member_ids(tenant_id, segment_id) if lead_id in visible
            )
            for segment_id in segment_ids
        }

    @abstractmethod
    def iter_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        """Every member's lead id."""

    @abstractmethod
    def lead_summaries(self, tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
        """Inbox rows of the existing leads among ``lead_ids``, in that order."""
