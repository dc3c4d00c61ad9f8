"""Ports of leadtide.bulk: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from leadtide.models.auth import Principal
from leadtide.models.bulk import BulkActionRecord, ChunkOutcome, LeadOutcome


class BulkActionRepository(ABC):
    """Bulk-action records and progress of every tenant."""

    @abstractmethod
    def create(self, record: BulkActionRecord) -> None:
        """Store a new bulk action."""

    @abstractmethod
    def get(self, tenant_id: str, bulk_action_id: str) -> BulkActionRecord:
        """The record with its current counters. Raises BulkActionNotFoundError."""

    @abstractmethod
    def list(
        self, tenant_id: str, *, requested_by: str | None, limit: int, cursor: str | None
    ) -> tuple[list[BulkActionRecord], str | None]:
        """Newest first, one page (only ``requested_by``'s when given). Raises InvalidRequestError (cursor)."""

    @abstractmethod
    def update(self, record: BulkActionRecord, *, expect_status: Iterable[str], **changes: Any) -> bool:
        """Set ``changes`` (record fields other than the progress counters) if the stored status is one of
        ``expect_status``; False (nothing written) otherwise."""

    @abstractmethod
    def set_plan(self, tenant_id: str, bulk_action_id: str, *, total: int, chunks: int) -> BulkActionRecord:
        """Record the resolved size and mark the action running, once: a second call (a redelivered plan
        step) keeps the first plan. Returns the record after the call."""

    @abstractmethod
    def record_chunk(self, tenant_id: str, bulk_action_id: str, index: int, outcome: ChunkOutcome) -> bool:
        """Put chunk ``index``'s done marker and add its counts to the action, atomically. False (nothing
        written) when the chunk was already recorded."""

    @abstractmethod
    def iter_outcomes(self, tenant_id: str, bulk_action_id: str) -> Iterator[LeadOutcome]:
        """Every failed or skipped lead of the action, chunk by chunk."""


@dataclass(frozen=True)
class CustomFieldColumn:
    """A custom field as an export column: its key (in ``Lead.custom_fields``), label and type."""

    key: str
    label: str
    type: str = "text"


class LeadCollections(ABC):
    """Static lists and segments, as far as exports and bulk actions use them."""

    @abstractmethod
    def list_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        """Lead ids of a static list. Raises NotFoundError (404) for an unknown list."""

    @abstractmethod
    def segment_member_ids(self, tenant_id: str, segment_id: str) -> Iterator[str]:
        """Lead ids currently matching a segment. Raises NotFoundError (404) for an unknown segment."""

    def check_list(self, tenant_id: str, list_id: str) -> None:
        """Raise NotFoundError (404) when the list does not exist (reads at most one member)."""
        next(iter(self.list_member_ids(tenant_id, list_id)), None)

    def check_segment(self, tenant_id: str, segment_id: str) -> None:
        """Raise NotFoundError (404) when the segment does not exist (reads at most one member)."""
        next(iter(self.segment_member_ids(tenant_id, segment_id)), None)

    @abstractmethod
    def add_to_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        """Add leads to a static list (already-members are fine). Raises NotFoundError for the list."""

    @abstractmethod
    def remove_from_list(self, principal: Principal, list_id: str, lead_ids: Sequence[str]) -> None:
        """Remove leads from a static list (non-members are fine). Raises NotFoundError for the list."""

    @abstractmethod
    def remove_lead_everywhere(self, tenant_id: str, lead_id: str) -> None:
        """Drop a deleted lead from every static list it belonged to."""


class CustomFieldCatalog(ABC):
    """The tenant's custom field definitions (export columns)."""

    @abstractmethod
    def columns(self, tenant_id: str) -> list[CustomFieldColumn]:
        """Every custom field of the tenant, in definition order."""
