"""Api function: the authenticated SPA API (leads, timeline, notes, dashboard, channels) and its OpenAPI.

Thin by design: each route reads typed input, calls one logic function, returns a pydantic model.
The tenant, user and role come from the JWT claims API Gateway's authorizer verified.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from leadtide.api.context import principal_of
from leadtide.api.errors import (
    JSON,
    documented_errors,
    domain_error_response,
    undecodable_body_response,
    unsupported_media_type_response,
    validation_error_response,
)
from leadtide.api.openapi import complete_document
from leadtide.api.resolver import ApiResolver
from leadtide.leads.service import MAX_PAGE_SIZE, get_lead_service
from leadtide.models.auth import Principal
from leadtide.models.channels import Channel, ChannelCreate, ChannelList
from leadtide.models.common import ChannelType, Grade, IsoDateTime, LeadStatus
from leadtide.models.errors import LeadNotFoundError, LeadtideError
from leadtide.models.leads import (
    LEAD_ID_PATTERN,
    Activity,
    ActivityPage,
    DashboardSummary,
    Lead,
    LeadCreate,
    LeadPage,
    LeadQuery,
    LeadUpdate,
    NoteCreate,
)
from leadtide.models.text import loads_valid_text
from leadtide.observability import logger, metrics

# Every JSON body is read by one loader that refuses lone surrogates (422 naming the field), before any
# request model sees it: the text rule of leadtide.models.text holds for every route and field at once.
# Bodies are JSON only (a form or multipart body is a 415) and path parameters arrive decoded (ApiResolver).
app = ApiResolver(enable_validation=True, json_body_deserializer=loads_valid_text)

# Feature areas live in sibling modules, one Powertools router each (``<area>_routes.py``), included
# here: app.include_router(<area>_routes.router).
from admin_routes import router as admin_router  # noqa: E402
from bulk_routes import router as bulk_router  # noqa: E402
from custom_fields_routes import router as custom_fields_router  # noqa: E402
from duplicates_routes import router as duplicates_router  # noqa: E402
from events_routes import router as events_router  # noqa: E402
from exports_routes import router as exports_router  # noqa: E402
from imports_routes import router as imports_router  # noqa: E402
from lists_routes import router as lists_router  # noqa: E402
from ml_routes import router as ml_router  # noqa: E402
from scoring_routes import router as scoring_router  # noqa: E402
from segments_routes import router as segments_router  # noqa: E402

app.include_router(custom_fields_router)
app.include_router(ml_router)
app.include_router(scoring_router)
app.include_router(events_router)
app.include_router(exports_router)
app.include_router(imports_router)
app.include_router(bulk_router)
app.include_router(lists_router)
app.include_router(segments_router)
app.include_router(duplicates_router)
app.include_router(admin_router)

_LEAD_ID = re.compile(LEAD_ID_PATTERN)
LeadId = Annotated[str, Path(description="lead id (32 hex characters)")]
ChannelId = Annotated[str, Path(description="channel id", max_length=64)]


def _principal() -> Principal:
    return principal_of(app.current_event)


def _lead_id(lead_id: str) -> str:
    if not _LEAD_ID.match(lead_id):
        raise LeadNotFoundError(f"lead {lead_id} not found")
    return lead_id


def _created(model: BaseModel) -> Response:
    return Response(status_code=201, content_type=JSON, body=model)


@app.exception_handler(LeadtideError)
def _domain_error(err: LeadtideError) -> Response:
    return domain_error_response(err)


@app.exception_handler(RequestValidationError)
def _validation_error(err: RequestValidationError) -> Response:
    return validation_error_response(err)


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_media_type(err: RequestUnsupportedContentType) -> Response:
    return unsupported_media_type_response(app.current_event.headers.get("content-type", ""))


@app.exception_handler(UnicodeDecodeError)
def _undecodable_body(err: UnicodeDecodeError) -> Response:
    event = app.current_event
    response = undecodable_body_response(event.body, event.is_base64_encoded)
    if response is None:
        raise err  # not the request body: a bug, so API Gateway's 500
    return response


# ---------------------------------------------------------------------------------------------- leads
@app.get(
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
    leads; a selective filter may return fewer with a `next_cursor` to continue."""
    principal = _principal()
    query = LeadQuery(
        status=status.value if status else None,
        source_channel=source.value if source else None,
        owner_id=principal.user_id if owner == "me" else owner,
        grade=grade.value if grade else None,
        created_from=created_from,
        created_to=created_to,
        search=q.strip() if q and q.strip() else None,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=cursor,
    )
    return get_lead_service().list_leads(principal, query)


@app.post(
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
    created = get_lead_service().create_lead(_principal(), lead)
    return _created(created)


@app.get(
    "/leads/<lead_id>",
    summary="Get a lead with its score breakdown",
    responses={
        200: {"description": "The lead", "content": {JSON: {"model": Lead}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_lead(lead_id: LeadId) -> Lead:
    """The full profile: contact details, source, status, owner, score, grade, score breakdown, tags."""
    return get_lead_service().get_lead(_principal(), _lead_id(lead_id))


@app.patch(
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
    return get_lead_service().update_lead(_principal(), _lead_id(lead_id), changes)


@app.delete(
    "/leads/<lead_id>",
    summary="Delete a lead and its timeline (admins and managers)",
    responses={204: {"description": "Deleted"}, **documented_errors(401, 403, 404, 409, 422)},
)
def delete_lead(lead_id: LeadId) -> Response[None]:
    """Deletes the lead, its timeline and every identity key pointing at it (its own, those of leads
    merged into it, imported unique custom fields), so those emails/phones/values are free again. 409 when
    the lead kept changing while being deleted (retry)."""
    get_lead_service().delete_lead(_principal(), _lead_id(lead_id))
    return Response(status_code=204, body="")


@app.get(
    "/leads/<lead_id>/activities",
    summary="The lead's timeline, oldest first",
    responses={
        200: {"description": "One page of activities", "content": {JSON: {"model": ActivityPage}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def list_activities(
    lead_id: LeadId,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ActivityPage:
    """Messages in and out, notes, status and owner changes, oldest first."""
    return get_lead_service().list_activities(_principal(), _lead_id(lead_id), limit=limit, cursor=cursor)


@app.post(
    "/leads/<lead_id>/notes",
    summary="Add a note to the lead's timeline",
    responses={
        201: {"description": "The note", "content": {JSON: {"model": Activity}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def add_note(lead_id: LeadId, note: Annotated[NoteCreate, Body()]) -> Response[Activity]:
    """The note joins the timeline with the caller as author."""
    created = get_lead_service().add_note(_principal(), _lead_id(lead_id), note)
    return _created(created)


@app.get(
    "/dashboard/summary",
    summary="Lead counts: total, by status, by source",
    responses={
        200: {"description": "Counts", "content": {JSON: {"model": DashboardSummary}}},
        **documented_errors(401),
    },
)
def dashboard_summary() -> DashboardSummary:
    """Counters kept in the same write as the change that moves them."""
    return get_lead_service().dashboard(_principal())


# ---------------------------------------------------------------------------------------------- channels
@app.post(
    "/channels",
    summary="Connect a channel (admin). Secrets go to Secrets Manager and are never returned",
    responses={
        201: {"description": "Connected", "content": {JSON: {"model": Channel}}},
        **documented_errors(400, 401, 403, 409, 422),
    },
)
def create_channel(channel: Annotated[ChannelCreate, Body()]) -> Response[Channel]:
    """WhatsApp Cloud API, Instagram, Twilio WhatsApp or a web form. Secrets are stored in AWS Secrets
    Manager and never returned."""
    from leadtide.channels.service import get_channel_service  # only channel routes need it

    created = get_channel_service().connect(_principal(), channel)
    return _created(created)


@app.get(
    "/channels",
    summary="List the tenant's channels (admin)",
    responses={
        200: {"description": "Channels", "content": {JSON: {"model": ChannelList}}},
        **documented_errors(401, 403),
    },
)
def list_channels() -> ChannelList:
    """Every channel of the caller's tenant, without secrets."""
    from leadtide.channels.service import get_channel_service  # only channel routes need it

    return ChannelList(items=get_channel_service().list(_principal()))


@app.delete(
    "/channels/<channel_id>",
    summary="Disconnect a channel (admin)",
    responses={204: {"description": "Disconnected"}, **documented_errors(401, 403, 404, 422)},
)
def delete_channel(channel_id: ChannelId) -> Response[None]:
    """Removes the channel and its routing; its secret is scheduled for deletion."""
    from leadtide.channels.service import get_channel_service  # only channel routes need it

    get_channel_service().disconnect(_principal(), channel_id)
    return Response(status_code=204, body="")


# ---------------------------------------------------------------------------------------------- OpenAPI
# Generated on first request, not at import: Powertools' OpenAPI models cost ~100 ms to import, and every
# cold start would pay it (see docs/benchmarks.md).
@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    """This API's OpenAPI 3 document."""
    return Response(status_code=200, content_type=JSON, body=openapi_json())


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Swagger UI for this API (assets embedded, no CDN)."""
    from pathlib import Path

    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(generate_swagger_html.__code__.co_filename).parent
    html = generate_swagger_html(
        openapi_json().replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        False,
    )
    return Response(status_code=200, content_type="text/html", body=html)


@lru_cache(maxsize=1)
def openapi_json() -> str:
    """The OpenAPI 3 document of this API, generated from the routes above (committed as docs/openapi.json)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    document = app.get_openapi_json_schema(
        title="Leadtide API",
        version="0.1.0",
        description="Lead management for small, seasonal sales teams. Every 4xx a Leadtide function answers "
        'is `ErrorResponse`: {"error": {"code", "message", "details"}}. API Gateway answers some requests '
        'itself before any function runs, in its own shape `GatewayError`: {"message": "..."} '
        "(401 without a valid JWT, 404 when no route matches, 413 over 10 MB, 429 when throttled).",
        security_schemes={
            "cognito": HTTPBearer(bearerFormat="JWT", description="Cognito ID token"),
            "apiKey": APIKey(
                name="X-Api-Key",
                **{"in": APIKeyIn.header},
                description="Integration API key (`lt_live_...`, from `POST /api-keys`); "
                "`Authorization: Bearer lt_live_...` works too",
            ),
        },
        security=[{"cognito": []}],
    )
    return complete_document(document, jwt_scheme="cognito")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """API Gateway HTTP API (payload 2.0) entry point."""
    return app.resolve(event, context)
