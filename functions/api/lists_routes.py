"""Static-list routes: create, rename, delete lists; add leads by id, by the inbox filters or from a CSV of
emails/phones; remove leads; page through a list's leads; follow a filter add that continues in the
background. Logic: ``leadtide.lists.service``."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.lists.models import (
    AddResult,
    ListImportRequest,
    ListImportResult,
    ListJob,
    ListJobPage,
    ListLeadsAdd,
    ListLeadsRemove,
    RemoveResult,
    StaticList,
    StaticListCollection,
    StaticListCreate,
    StaticListUpdate,
)
from leadtide.models.errors import ListJobNotFoundError, ListNotFoundError
from leadtide.models.leads import LeadPage
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ListId = Annotated[str, Path(description="static list id (32 hex characters)")]
JobId = Annotated[str, Path(description="list job id (32 hex characters), from the 202 of a filter add")]
_ID = re.compile(r"^[0-9a-f]{32}$")


def _list_id(list_id: str) -> str:
    if not _ID.match(list_id):
        raise ListNotFoundError(f"list {list_id} not found")
    return list_id


@router.post(
    "/lists",
    summary="Create a static list",
    responses={
        201: {"description": "Created", "content": {JSON: {"model": StaticList}}},
        **documented_errors(400, 401, 422),
    },
)
def create_list(request: Annotated[StaticListCreate, Body()]) -> Response[StaticList]:
    """An empty, named list of leads; every role may create one."""
    created = get_wiring().list_service.create_list(current_principal(router), request)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/lists",
    summary="The tenant's static lists with their lead counts",
    responses={
        200: {"description": "Lists", "content": {JSON: {"model": StaticListCollection}}},
        **documented_errors(401),
    },
)
def list_lists() -> StaticListCollection:
    """Every list, most recently updated first, with `count` and `updated_at`."""
    return get_wiring().list_service.list_lists(current_principal(router))


@router.get(
    "/lists/<list_id>",
    summary="Get a static list",
    responses={
        200: {"description": "The list", "content": {JSON: {"model": StaticList}}},
        **documented_errors(401, 404, 422),
    },
)
def get_list(list_id: ListId) -> StaticList:
    """Name, description, lead count, creator and times."""
    return get_wiring().list_service.get_list(current_principal(router), _list_id(list_id))


@router.patch(
    "/lists/<list_id>",
    summary="Rename or describe a static list",
    responses={
        200: {"description": "The updated list", "content": {JSON: {"model": StaticList}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def update_list(list_id: ListId, changes: Annotated[StaticListUpdate, Body()]) -> StaticList:
    """Admins, managers and the list's creator."""
    return get_wiring().list_service.update_list(current_principal(router), _list_id(list_id), changes)


@router.delete(
    "/lists/<list_id>",
    summary="Delete a static list (its leads stay)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 422)},
)
def delete_list(list_id: ListId) -> Response[None]:
    """Admins, managers and the list's creator. Memberships of a large list are removed in the background."""
    get_wiring().list_service.delete_list(current_principal(router), _list_id(list_id))
    return Response(status_code=204, body="")


@router.post(
    "/lists/<list_id>/leads",
    summary="Add a selection of leads (by id or by the inbox filters) to a static list",
    responses={
        200: {"description": "Added", "content": {JSON: {"model": AddResult}}},
        202: {
            "description": "Partly added; the rest continues in the background as the job `job_id`",
            "content": {JSON: {"model": AddResult}},
        },
        **documented_errors(400, 401, 404, 422),
    },
)
def add_leads(list_id: ListId, request: Annotated[ListLeadsAdd, Body()]) -> Response[AddResult]:
    """`{"selection": {"lead_ids": [...]}}` (up to 1,000) or `{"selection": {"filter": {...}}}` (the filters
    of `GET /leads`): the selection shape of `POST /exports` and `POST /bulk-actions`; a list's or
    segment's members are added with `POST /bulk-actions` (`add_to_list`). Reps only add leads they can
    see; others are reported in `not_visible`. A filter matching more than 500 leads answers 202 with the
    counts of the first 500 and a `job_id`; the rest is added on the jobs queue, followed with
    `GET /lists/{list_id}/jobs/{job_id}`.

    **Deprecated:** `lead_ids` or `filter` at the top level of the body (the shape before selections) is
    still accepted and means the same; send `selection` instead."""
    service = get_wiring().list_service
    principal = current_principal(router)
    selection = request.resolved_selection()
    if selection.lead_ids is not None:
        result = service.add_leads(principal, _list_id(list_id), selection.lead_ids)
    else:
        assert selection.filter is not None
        result = service.add_by_filter(principal, _list_id(list_id), selection.filter)
    return Response(status_code=202 if result.queued else 200, content_type=JSON, body=result)


@router.get(
    "/lists/<list_id>/jobs",
    summary="The background filter adds of a static list, newest first",
    responses={
        200: {"description": "One page of list jobs", "content": {JSON: {"model": ListJobPage}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def list_list_jobs(
    list_id: ListId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> ListJobPage:
    """Each job as `GET /lists/{list_id}/jobs/{job_id}` shows it. Admins and managers read every job of a
    list, reps the jobs they started (another user's counts leads the rep may not see); 404 once the list
    is deleted."""
    return get_wiring().list_service.list_jobs(
        current_principal(router), _list_id(list_id), limit=limit, cursor=cursor
    )


@router.get(
    "/lists/<list_id>/jobs/<job_id>",
    summary="Progress of a filter add that continues in the background",
    responses={
        200: {"description": "The list job", "content": {JSON: {"model": ListJob}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_list_job(list_id: ListId, job_id: JobId) -> ListJob:
    """`status` running, completed or failed (with `error`); `added` and `already_members` are totals of
    the whole add, the synchronous part included, and grow after each background step of up to 5,000
    leads. Admins and managers read every job of a list, reps the jobs they started (403 for another
    user's: its counts and filter cover leads the rep may not see); 404 once the list is deleted."""
    if not _ID.match(job_id):
        raise ListJobNotFoundError(f"list job {job_id} not found")
    return get_wiring().list_service.get_job(current_principal(router), _list_id(list_id), job_id)


@router.delete(
    "/lists/<list_id>/leads",
    summary="Remove leads from a static list",
    responses={
        200: {"description": "Removed", "content": {JSON: {"model": RemoveResult}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def remove_leads(list_id: ListId, request: Annotated[ListLeadsRemove, Body()]) -> RemoveResult:
    """`{"selection": {"lead_ids": [...]}}` (up to 1,000); reps only remove leads they can see. Removing by
    filter, list or segment is `POST /bulk-actions` (`remove_from_list`).

    **Deprecated:** `lead_ids` at the top level of the body is still accepted; send `selection` instead."""
    return get_wiring().list_service.remove_leads(current_principal(router), _list_id(list_id), request.ids)


@router.get(
    "/lists/<list_id>/leads",
    summary="The leads of a static list, newest added first",
    responses={
        200: {"description": "One page of leads", "content": {JSON: {"model": LeadPage}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def list_leads(
    list_id: ListId,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> LeadPage:
    """Inbox rows. Reps see only their own and unassigned leads (a page may be short, with a cursor)."""
    return get_wiring().list_service.list_leads(
        current_principal(router), _list_id(list_id), limit=limit, cursor=cursor
    )


@router.post(
    "/lists/<list_id>/imports",
    summary="Add the leads of a CSV of emails or phone numbers to a static list",
    responses={
        200: {"description": "Matched and added", "content": {JSON: {"model": ListImportResult}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def import_csv(list_id: ListId, request: Annotated[ListImportRequest, Body()]) -> ListImportResult:
    """CSV text up to 1 MB (20,000 rows). Values are normalised as capture does (lower-case email,
    E.164 phone) and matched to leads by identity; counts of matched, unmatched and invalid rows."""
    return get_wiring().list_service.import_csv(current_principal(router), _list_id(list_id), request)
