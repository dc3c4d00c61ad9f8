"""Behaviour tracking (``POST /events`` with a user token, ``POST /track/events`` with an API key) and
API-key management (``/api-keys``, admins).

``/track/events`` is a public route (no JWT authorizer): the tenant comes from the API key, checked in
:meth:`leadtide.tracking.service.TrackingService.authenticate`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.errors import LeadtideError, MalformedPayloadError
from leadtide.models.tracking import ApiKeyCreate, ApiKeyCreated, ApiKeyList, TrackEventsResult
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

KeyId = Annotated[str, Path(description="API key id (16 hex characters)", max_length=64)]
_EVENTS_BODY = (
    'One event `{"event_id", "type", "lead": {"lead_id" | "email" | "phone"}, "occurred_at", "properties"}` '
    'or `{"events": [...]}` with up to 500.'
)


def _body() -> Any:
    try:
        return router.current_event.json_body  # the app's bounded loader (leadtide.models.text)
    except LeadtideError:
        raise  # 400 too deep / number too large, 413, 422: already named
    except ValueError:
        raise MalformedPayloadError("request body is not valid JSON") from None


@router.post(
    "/events",
    summary="Record behaviour events (email opens, page views, meetings...) for leads",
    responses={
        200: {"description": "Per-event outcome", "content": {JSON: {"model": TrackEventsResult}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def track_events(
    body: Annotated[dict[str, Any], Body(description=_EVENTS_BODY)],
) -> TrackEventsResult:
    """Admins and managers. Idempotent per `event_id`; each event is validated on its own and reported in
    `rejected` (with its index) when it is invalid or names an unknown lead. Accepted events join the
    lead's timeline and re-score it shortly after."""
    return get_wiring().tracking_service.track_as(current_principal(router), _body())


@router.post(
    "/track/events",
    summary="Record behaviour events with an integration API key",
    security=[{"apiKey": []}],
    responses={
        200: {"description": "Per-event outcome", "content": {JSON: {"model": TrackEventsResult}}},
        **documented_errors(400, 401, 422),
    },
)
def track_events_with_key(
    body: Annotated[dict[str, Any], Body(description=_EVENTS_BODY)],
) -> TrackEventsResult:
    """Same body and answer as `POST /events`; authenticate with `Authorization: Bearer lt_live_...` or
    `X-Api-Key: lt_live_...` (created with `POST /api-keys`)."""
    service = get_wiring().tracking_service
    tenant_id = service.authenticate(dict(router.current_event.headers or {}))
    return service.track(tenant_id, _body())


@router.post(
    "/api-keys",
    summary="Create an integration API key (admins); the key is shown once",
    responses={
        201: {"description": "Created", "content": {JSON: {"model": ApiKeyCreated}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def create_api_key(request: Annotated[ApiKeyCreate, Body()]) -> Response[ApiKeyCreated]:
    """Only a SHA-256 hash is stored; keep the `key` from this answer."""
    created = get_wiring().tracking_service.create_api_key(current_principal(router), request)
    return Response(status_code=201, content_type=JSON, body=created)


@router.get(
    "/api-keys",
    summary="List the tenant's API keys (admins)",
    responses={
        200: {"description": "Keys", "content": {JSON: {"model": ApiKeyList}}},
        **documented_errors(401, 403),
    },
)
def list_api_keys() -> ApiKeyList:
    """Names, prefixes, creation and revocation times; never the keys."""
    return get_wiring().tracking_service.list_api_keys(current_principal(router))


@router.delete(
    "/api-keys/<key_id>",
    summary="Revoke an API key (admins)",
    responses={204: {"description": "Revoked"}, **documented_errors(401, 403, 404)},
)
def revoke_api_key(key_id: KeyId) -> Response[None]:
    """Requests with the key are refused (401) from now on."""
    get_wiring().tracking_service.revoke_api_key(current_principal(router), key_id)
    return Response(status_code=204, body="")
