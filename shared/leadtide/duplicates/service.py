"""Duplicate detection use cases: scan a tenant (job), fan out over every tenant (schedule), list the
candidate pairs with both leads, dismiss a pair.

Access rule: every role may list pairs, but reps only see pairs whose two leads they can see (their own or
unassigned); scanning and dismissing are for admins and managers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leadtide.duplicates.matching import DuplicateFinder
from leadtide.duplicates.ports import (
    DuplicateRepository,
    ListMemberships,
    ReplaceOutcome,
)
from leadtide.leads.ports import LeadRepository
from leadtide.models.auth import Principal
from leadtide.models.common import utc_now
from leadtide.models.duplicates import DuplicatePage, DuplicatePairView, PairStatus, ScanAccepted
from leadtide.models.errors import DuplicatePairNotFoundError, ForbiddenError, LeadNotFoundError
from leadtide.models.leads import LeadSummary

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

if TYPE_CHECKING:
    from leadtide.wiring import Wiring

log = logging.getLogger(__name__)
SCAN_KIND = "duplicates.scan"
SCAN_ALL_KIND = "duplicates.scan_all"


class DuplicateService:
    """Scan, list and dismiss candidate duplicate pairs."""

    def __init__(
        self,
        pairs: DuplicateRepository,
        leads: LeadRepository,
        enqueue: Callable[[list[dict[str, Any]]], None],
    ):
        self._pairs = pairs
        self._leads = leads
        self._enqueue = enqueue

    def request_scan(self, principal: Principal) -> ScanAccepted:
        """Queue a scan of the caller's tenant. Raises ForbiddenError (403) for reps."""
        _require_manager(principal)
        self._enqueue([{"kind": SCAN_KIND, "tenant_id": principal.tenant_id}])
        return ScanAccepted(tenant_id=principal.tenant_id)

    def scan_all(self) -> int:
        """Queue one scan step per tenant (the schedule's job); returns how many were queued."""
        steps = [{"kind": SCAN_KIND, "tenant_id": tenant} for tenant in self._pairs.iter_tenant_ids()]
        if steps:
            self._enqueue(steps)
        return len(steps)

    def scan_tenant(self, tenant_id: str) -> ReplaceOutcome:
        """Detect the tenant's candidate pairs and replace its open pairs with them (idempotent).

        One step reads the tenant's leads (the matching fields only) and matches them in memory; for
        100,000 leads see docs/benchmarks.md (bench:duplicates) for time and memory, inside the Jobs
        worker's 15 minutes and 1,769 MB.
        """
        records = list(self._pairs.iter_match_records(tenant_id))
        finder = DuplicateFinder()
        pairs = finder.find(records)
        outcome = self._pairs.replace_open_pairs(tenant_id, pairs, {r.lead_id for r in records}, utc_now())
        log.info(
            "duplicate scan",
            extra={
                "tenant_id": tenant_id,
                "leads": len(records),
                "pairs": len(pairs),
                "stats": dataclasses.asdict(finder.stats),
            },
        )
        return outcome

    def list_pairs(
        self,
        principal: Principal,
        *,
        min_score: int,
        status: PairStatus | None,
        limit: int,
        cursor: str | None,
    ) -> DuplicatePage:
        """One page of pairs (best first) with both leads' summaries. Pairs whose lead is gone are skipped
        (the next scan removes them). Raises InvalidRequestError (400) for a bad cursor."""
        pairs, next_cursor = self._pairs.query_pairs(
            principal.tenant_id, min_score=min_score, status=status, limit=limit, cursor=cursor
        )
        items: list[DuplicatePairView] = []
        for pair in pairs:
            try:
                a = self._leads.get_lead(principal.tenant_id, pair.lead_a)
                b = self._leads.get_lead(principal.tenant_id, pair.lead_b)
            except LeadNotFoundError:
                continue
            if not (principal.can_see(a.owner_id) and principal.can_see(b.owner_id)):
                continue
            items.append(
                DuplicatePairView(
                    **pair.model_dump(),
                    lead_a_summary=LeadSummary.model_validate(a.model_dump()),
                    lead_b_summary=LeadSummary.model_validate(b.model_dump()),
                )
            )
        return DuplicatePage(items=items, next_cursor=next_cursor)

    def dismiss(self, principal: Principal, pair_id: str) -> DuplicatePairView:
        """Mark a pair "not a duplicate" (kept across rescans). Raises DuplicatePairNotFoundError (404),
        ForbiddenError (403) for reps who cannot see both leads."""
        pair = self._pairs.get_pair(principal.tenant_id, pair_id)
        try:
            a = self._leads.get_lead(principal.tenant_id, pair.lead_a)
            b = self._leads.get_lead(principal.tenant_id, pair.lead_b)
        except LeadNotFoundError:
            raise DuplicatePairNotFoundError(f"duplicate pair {pair_id} not found") from None
        if not (principal.can_see(a.owner_id) and principal.can_see(b.owner_id)):
            raise ForbiddenError("this pair involves a lead owned by another user", code="not_lead_owner")
        pair = self._pairs.set_pair_status(
            principal.tenant_id, pair_id, PairStatus.DISMISSED, principal.user_id
        )
        return DuplicatePairView(
            **pair.model_dump(),
            lead_a_summary=LeadSummary.model_validate(a.model_dump()),
            lead_b_summary=LeadSummary.model_validate(b.model_dump()),
        )


def _require_manager(principal: Principal) -> None:
    if not principal.sees_all_leads:
        raise ForbiddenError("only admins and managers run duplicate scans")


# ---------------------------------------------------------------------------------------------- jobs
def run_scan_job(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue kind ``duplicates.scan``: ``{"tenant_id"}``."""
    wiring.duplicate_service.scan_tenant(str(message["tenant_id"]))


def run_scan_all_job(message: dict[str, Any], wiring: Wiring) -> None:
    """Jobs-queue kind ``duplicates.scan_all`` (the schedule's input): one ``duplicates.scan`` per tenant."""
    wiring.duplicate_service.scan_all()


# ---------------------------------------------------------------------------------------------- wiring


class ListsServiceMemberships(ListMemberships):
    """Adapter over ``leadtide.lists.service`` (owned by the lists area)."""

    def __init__(self, service: Any):
        self._service = service

    def move(self, tenant_id: str, from_lead_id: str, to_lead_id: str) -> Any:
        return self._service.move_memberships(tenant_id, from_lead_id, to_lead_id)
