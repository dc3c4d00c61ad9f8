"""Ports of leadtide.bulk: the interfaces its logic depends on (implemented in leadtide.dal, faked in tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

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
