"""Dynamic-segment routes: save rule trees (include/exclude), page through members, preview unsaved rules.
Logic: ``leadtide.segments.service``; the rule language: ``leadtide.conditions``."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.errors import SegmentNotFoundError
from leadtide.models.leads import LeadPage
from leadtide.segments.models import (
    Segment,
    SegmentCollection,
    SegmentCreate,
    SegmentPreview,
    SegmentPreviewRequest,
    SegmentUpdate,
)
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

SegmentId = Annotated[str, Path(description="segment id (32 hex characters)")]
_ID = re.compile(r"^[0-9a-f]{32}$")


def _segment_id(segment_id: str) -> str:
    if not _ID.match(segment_id):
        raise SegmentNotFoundError(f"segment {segment_id} not found")
    return segment_id


@router.post(
    "/segments",
    summary="Create a dynamic segment (membership computed in the background)",
    responses={
        201: {"description": "Created (status 'building')", "content": {JSON: {"model": Segment}}},
        **documented_errors(400, 401, 422),
    },
)
def create_segment(request: Annotated[SegmentCreate, Body()]) -> Response[Segment]:
    """`include` and optional `exclude` condition trees (exclude wins). Invalid rules get a 422 naming the
    node, e.g. `include.all[2].op`. Members are computed on the jobs queue; the segment is then `ready`
    and stays current as leads change."""
    created = get_wiring().segment_service.create(current_principal(router), request)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/segments",
    summary="The tenant's segments with their member counts",
    responses={
        200: {"description": "Segments", "content": {JSON: {"model": SegmentCollection}}},
        **documented_errors(401),
    },
)
def list_segments() -> SegmentCollection:
    """Every segment, most recently updated first."""
    return get_wiring().segment_service.list_segments(current_principal(router))


@router.post(
    "/segments/preview",
    summary="Count and sample the leads some rules match, without saving",
    responses={
        200: {"description": "Count and sample", "content": {JSON: {"model": SegmentPreview}}},
        **documented_errors(400, 401, 422),
    },
)
def preview_segment(request: Annotated[SegmentPreviewRequest, Body()]) -> SegmentPreview:
    """Evaluates every lead of the tenant (reps: the leads they can see), reading only the fields the rules
    use. Returns `count`, up to `sample_size` (<= 50) newest matching leads, `evaluated` and `elapsed_ms`."""
    return get_wiring().segment_service.preview(current_principal(router), request)


@router.get(
    "/segments/<segment_id>",
    summary="Get a segment",
    responses={
        200: {"description": "The segment", "content": {JSON: {"model": Segment}}},
        **documented_errors(401, 404, 422),
    },
)
def get_segment(segment_id: SegmentId) -> Segment:
    """Rules, version, status (building/ready), member count, fields used."""
    return get_wiring().segment_service.get(current_principal(router), _segment_id(segment_id))


@router.patch(
    "/segments/<segment_id>",
    summary="Rename a segment or change its rules",
    responses={
        200: {"description": "The updated segment", "content": {JSON: {"model": Segment}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def update_segment(segment_id: SegmentId, changes: Annotated[SegmentUpdate, Body()]) -> Segment:
    """Admins, managers and the segment's creator. A rule change moves `version`, sets `building` and
    recomputes members in the background; leads that enter or leave publish segment events."""
    return get_wiring().segment_service.update(current_principal(router), _segment_id(segment_id), changes)


@router.delete(
    "/segments/<segment_id>",
    summary="Delete a segment (its leads stay)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 422)},
)
def delete_segment(segment_id: SegmentId) -> Response[None]:
    """Admins, managers and the segment's creator."""
    get_wiring().segment_service.delete(current_principal(router), _segment_id(segment_id))
    return Response(status_code=204, body="")


@router.get(
    "/segments/<segment_id>/leads",
    summary="The leads in a segment, newest created first",
    responses={
        200: {"description": "One page of leads", "content": {JSON: {"model": LeadPage}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def list_segment_leads(
    segment_id: SegmentId,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> LeadPage:
    """Inbox rows. Reps see only their own and unassigned leads (a page may be short, with a cursor)."""
    return get_wiring().segment_service.list_leads(
        current_principal(router), _segment_id(segment_id), limit=limit, cursor=cursor
    )
