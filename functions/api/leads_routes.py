"""Leads routes: the inbox (filters, pagination), profiles, status/owner/tags, notes, the timeline and the
dashboard. Logic: ``leadtide.leads.service``."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import StringConstraints

from leadtide.api.app import created
from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.customfields.models import KEY_PATTERN
from leadtide.models.common import ChannelType, Grade, IsoDateTime, LeadStatus
from leadtide.models.errors import LeadNotFoundError
from leadtide.models.leads import (
    LEAD_ID_PATTERN,
    MAX_PAGE_SIZE,
    Activity,
    ActivityPage,
    ActivityText,
    ActivityType,
    DashboardSummary,
    Lead,
    LeadCreate,
    LeadPage,
    LeadUpdate,
    NoteCreate,
)
from leadtide.models.selection import MAX_FILTER_CUSTOM_FIELDS, parse_filter
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

_LEAD_ID = re.compile(LEAD_ID_PATTERN)
LeadId = Annotated[str, Path(description="lead id (32 hex characters)")]
ActivityId = Annotated[str, Path(description="activity id (32 hex characters)", pattern="^[0-9a-f]{32}$")]
CustomFieldKey = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
FilterText = Annotated[str, StringConstraints(max_length=500)]


def _lead_id(lead_id: str) -> str:
    if not _LEAD_ID.match(lead_id):
        raise LeadNotFoundError(f"lead {lead_id} not found")
    return lead_id


@router.get(
    "/leads",
    summary="List leads (the inbox)",
    responses={
        200: {"description": "One page of leads", "content": {JSON: {"model": LeadPage}}},
        **documented_errors(400, 401, 422),
    },
)
def list_leads(
    status: Annotated[LeadStatus | None, Query(description="lead status")] = None,
    source: Annotated[ChannelType | None, Query(description="source channel")] = None,
    owner: Annotated[
        str | None, Query(description="owner user id, 'me' or 'unassigned'", max_length=128)
    ] = None,
    grade: Annotated[Grade | None, Query()] = None,
    created_from: Annotated[IsoDateTime | None, Query(description="ISO-8601, inclusive")] = None,
    created_to: Annotated[IsoDateTime | None, Query(description="ISO-8601, inclusive")] = None,
    last_activity_from: Annotated[
        IsoDateTime | None,
        Query(description="last activity (latest interaction of any kind) at or after; ISO-8601"),
    ] = None,
    last_activity_to: Annotated[
        IsoDateTime | None, Query(description="last activity at or before; ISO-8601, inclusive")
    ] = None,
    tag: Annotated[
        list[str] | None,
        Query(description="leads with any of these tags, case-insensitive; repeat for several: tag=a&tag=b"),
    ] = None,
    custom_field: Annotated[
        dict[CustomFieldKey, FilterText] | None,
        Query(
            description="custom field filters, custom_field[<key>]=<value>: the lead's value of the "
            "custom field <key> is <value>, read as the field's type (number, date, checkbox, dropdown "
            "option...; a multi_select matches any option given); an empty value matches leads without "
            "one. Several keys combine with AND",
            max_length=MAX_FILTER_CUSTOM_FIELDS,
        ),
    ] = None,
    q: Annotated[
        str | None, Query(description="search name, email, phone or company", max_length=100)
    ] = None,
    sort: Annotated[Literal["created", "last_activity", "score"], Query()] = "created",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> LeadPage:
    """Filters combine (AND); reps only ever see their own and unassigned leads. Pages hold up to `limit`
    leads; a selective filter may return fewer with a `next_cursor` to continue (a cursor belongs to its
    sort, order and time range). The same filters select leads for lists, exports and bulk actions
    (`selection.filter`)."""
    principal = current_principal(router)  # first: a request without a principal builds no service
    lead_filter = parse_filter(
        status=status,
        source=source,
        owner=owner,
        grade=grade,
        created_from=created_from,
        created_to=created_to,
        last_activity_from=last_activity_from,
        last_activity_to=last_activity_to,
        tag=tag,
        custom_field=custom_field,
        q=q,
    )
    return get_wiring().lead_service.list_leads(
        principal,
        lead_filter,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/leads",
    summary="Create a lead by hand (de-duplicated by email and phone)",
    responses={
        201: {"description": "Created", "content": {JSON: {"model": Lead}}},
        **documented_errors(400, 401, 403, 409, 422),
    },
)
def create_lead(lead: Annotated[LeadCreate, Body()]) -> Response[Lead]:
    """Email and phone are normalised (lower-case, E.164) and must not belong to another lead of the tenant
    (409 names it). Reps become the owner."""
    result = get_wiring().lead_service.create_lead(current_principal(router), lead)
    return created(result)


@router.get(
    "/leads/<lead_id>",
    summary="Get a lead with its score breakdown",
    responses={
        200: {"description": "The lead", "content": {JSON: {"model": Lead}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_lead(lead_id: LeadId) -> Lead:
    """The full profile: contact details, source, status, owner, score, grade, score breakdown, tags."""
    return get_wiring().lead_service.get_lead(current_principal(router), _lead_id(lead_id))


@router.patch(
    "/leads/<lead_id>",
    summary="Change contact fields, status, owner or tags",
    responses={
        200: {"description": "The updated lead", "content": {JSON: {"model": Lead}}},
        **documented_errors(400, 401, 403, 404, 409, 422),
    },
)
def update_lead(lead_id: LeadId, changes: Annotated[LeadUpdate, Body()]) -> Lead:
    """Only the fields sent change; `null` clears one. Status and owner changes go on the timeline and
    publish `lead.updated`."""
    return get_wiring().lead_service.update_lead(current_principal(router), _lead_id(lead_id), changes)


@router.delete(
    "/leads/<lead_id>",
    summary="Delete a lead and its timeline (admins and managers)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 409, 422)},
)
def delete_lead(lead_id: LeadId) -> Response[None]:
    """Deletes the lead, its timeline and every identity key pointing at it (its own, those of leads
    merged into it, imported unique custom fields), so those emails/phones/values are free again. 409 when
    the lead kept changing while being deleted (retry)."""
    get_wiring().lead_service.delete_lead(current_principal(router), _lead_id(lead_id))
    return Response(status_code=204, body="")


@router.get(
    "/leads/<lead_id>/activities",
    summary="The lead's timeline, oldest first",
    responses={
        200: {"description": "One page of activities", "content": {JSON: {"model": ActivityPage}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def list_activities(
    lead_id: LeadId,
    type: Annotated[
        list[ActivityType] | None,
        Query(description="only entries of these types; repeat for several: type=note&type=message"),
    ] = None,
    occurred_from: Annotated[
        IsoDateTime | None, Query(description="entries at or after this instant; ISO-8601")
    ] = None,
    occurred_to: Annotated[
        IsoDateTime | None, Query(description="entries at or before this instant; ISO-8601, inclusive")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ActivityPage:
    """Messages in and out, notes, status and owner changes, oldest first; filtered by type and time
    (combined with AND). A selective filter may return fewer than `limit` entries with a `next_cursor`."""
    return get_wiring().lead_service.list_activities(
        current_principal(router),
        _lead_id(lead_id),
        limit=limit,
        cursor=cursor,
        types=type or (),
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )


@router.get(
    "/leads/<lead_id>/activities/<activity_id>/text",
    summary="The whole text of a message longer than its activity keeps",
    responses={
        200: {"description": "Where to download the whole text", "content": {JSON: {"model": ActivityText}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_activity_text(lead_id: LeadId, activity_id: ActivityId) -> ActivityText:
    """For an activity with `text_truncated`: `text` holds the first 16,384 characters, and `text_url`
    (valid 15 minutes) downloads all `length` characters as UTF-8 `text/plain`. 404 `text_not_found` for
    any other activity."""
    return get_wiring().message_text_service.activity_text(
        current_principal(router), _lead_id(lead_id), activity_id
    )


@router.post(
    "/leads/<lead_id>/notes",
    summary="Add a note to the lead's timeline",
    responses={
        201: {"description": "The note", "content": {JSON: {"model": Activity}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def add_note(lead_id: LeadId, note: Annotated[NoteCreate, Body()]) -> Response[Activity]:
    """The note joins the timeline with the caller as author."""
    result = get_wiring().lead_service.add_note(current_principal(router), _lead_id(lead_id), note)
    return created(result)


@router.get(
    "/dashboard/summary",
    summary="Lead counts: total, by status, by source",
    responses={
        200: {"description": "Counts", "content": {JSON: {"model": DashboardSummary}}},
        **documented_errors(401),
    },
)
def dashboard_summary() -> DashboardSummary:
    """Admins and managers: the tenant's counters, kept in the same write as the change that moves them.
    Reps: the leads they can see (their own and unassigned ones, as `GET /leads` shows them), counted on
    request."""
    return get_wiring().lead_service.dashboard(current_principal(router))
