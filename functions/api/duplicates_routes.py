"""Duplicate detection and lead merge routes: scan, list and dismiss candidate pairs; merge leads; merge
history and undo. Logic: ``leadtide.duplicates.service`` and ``leadtide.duplicates.merge`` (imported on
first use: matching needs rapidfuzz, which the Api cold start must not pay for)."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.duplicates import (
    DuplicatePage,
    DuplicatePairView,
    MergeDetail,
    MergeRecordPage,
    MergeRequest,
    MergeResult,
    PairStatus,
    ScanAccepted,
)
from leadtide.models.errors import DuplicatePairNotFoundError, MergeNotFoundError
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

PairId = Annotated[str, Path(description="pair id: `<lead_a>-<lead_b>` (two lead ids)")]
MergeId = Annotated[str, Path(description="merge id (32 hex characters)")]
_PAIR = re.compile(r"^[0-9a-f]{32}-[0-9a-f]{32}$")
_MERGE = re.compile(r"^[0-9a-f]{32}$")


def _merge_id(merge_id: str) -> str:
    if not _MERGE.match(merge_id):
        raise MergeNotFoundError(f"merge {merge_id} not found")
    return merge_id


@router.post(
    "/duplicates/scan",
    summary="Scan the tenant's leads for duplicates now (admins and managers)",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": ScanAccepted}}},
        **documented_errors(401, 403),
    },
)
def scan_duplicates() -> Response[ScanAccepted]:
    """Queues a detection job; when it ends, its pairs replace the open ones (dismissed pairs stay
    dismissed). Scans also run nightly."""
    accepted = get_wiring().duplicate_service.request_scan(current_principal(router))
    return Response(status_code=202, content_type=JSON, body=accepted)


@router.get(
    "/duplicates",
    summary="Candidate duplicate pairs, best score first, with both leads",
    responses={
        200: {"description": "One page of pairs", "content": {JSON: {"model": DuplicatePage}}},
        **documented_errors(400, 401, 422),
    },
)
def list_duplicates(
    min_score: Annotated[int, Query(ge=0, le=100, description="lowest score returned")] = 80,
    status: Annotated[PairStatus | None, Query(description="open, dismissed or merged")] = PairStatus.OPEN,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="next_cursor of the previous page")
    ] = None,
) -> DuplicatePage:
    """Each pair has a score (100: same email, phone or Instagram account) and the reasons. Reps only see
    pairs of leads they can see."""
    return get_wiring().duplicate_service.list_pairs(
        current_principal(router), min_score=min_score, status=status, limit=limit, cursor=cursor
    )


@router.post(
    "/duplicates/<pair_id>/dismiss",
    summary="Mark a pair as not duplicates",
    responses={
        200: {"description": "The dismissed pair", "content": {JSON: {"model": DuplicatePairView}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def dismiss_duplicate(pair_id: PairId) -> DuplicatePairView:
    """A dismissed pair is never re-opened by later scans."""
    if not _PAIR.match(pair_id):
        raise DuplicatePairNotFoundError(f"duplicate pair {pair_id} not found")
    return get_wiring().duplicate_service.dismiss(current_principal(router), pair_id)


@router.post(
    "/leads/merge",
    summary="Merge up to 9 leads into a surviving lead",
    responses={
        200: {"description": "Merged", "content": {JSON: {"model": MergeResult}}},
        **documented_errors(400, 401, 403, 404, 409, 422),
    },
)
def merge_leads(request: Annotated[MergeRequest, Body()]) -> MergeResult:
    """Fills the survivor field by field (`fields` choices, then `rule`; empty values never overwrite),
    unites tags and custom fields, sums message counts, moves timelines, identities, message markers and
    list memberships, deletes the merged profiles, and records the merge for undo. Admins and managers;
    reps only when they own every lead involved. `status` is `moving` when a long timeline finishes in
    the background."""
    return get_wiring().merge_service.merge(current_principal(router), request)


@router.get(
    "/merges",
    summary="Merge history, newest first",
    responses={
        200: {"description": "One page of merges", "content": {JSON: {"model": MergeRecordPage}}},
        **documented_errors(400, 401, 422),
    },
)
def list_merges(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> MergeRecordPage:
    """Every merge of the tenant (reps: the merges they made), with its status."""
    return get_wiring().merge_service.list_merges(current_principal(router), limit=limit, cursor=cursor)


@router.get(
    "/merges/<merge_id>",
    summary="One merge, with the profiles as they were before it",
    responses={
        200: {"description": "The merge", "content": {JSON: {"model": MergeDetail}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_merge(merge_id: MergeId) -> MergeDetail:
    """The record and the survivor's and merged leads' profiles before the merge."""
    return get_wiring().merge_service.get_merge(current_principal(router), _merge_id(merge_id))


@router.post(
    "/merges/<merge_id>/undo",
    summary="Undo a merge: restore the merged leads and the survivor's previous profile",
    responses={
        200: {"description": "Undone", "content": {JSON: {"model": MergeResult}}},
        **documented_errors(401, 403, 404, 409, 422),
    },
)
def undo_merge(merge_id: MergeId) -> MergeResult:
    """Restores the merged leads (profiles, identities, timeline entries) and the survivor's profile
    exactly. 409 when the survivor's fields were edited since the merge (undo would discard the edit) or
    the merge is not completed; messages received since stay on the survivor (`undo_notes` in history)."""
    return get_wiring().merge_service.undo(current_principal(router), _merge_id(merge_id))
