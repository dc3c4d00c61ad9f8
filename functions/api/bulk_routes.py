"""Bulk-action routes: change status, owner, tags or list membership of many leads, export or delete them.

Actions run in the background (jobs queue: ``bulk.plan`` then one ``bulk.chunk`` per 500 leads);
``GET /bulk-actions/{id}`` reports progress and which leads failed or were skipped, and why.
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.bulk import BulkAction, BulkActionCreate, BulkActionList
from leadtide.models.errors import BulkActionNotFoundError
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

BulkActionId = Annotated[str, Path(description="bulk action id (32 hex characters)")]
_ID = re.compile(r"^[0-9a-f]{32}$")


@router.post(
    "/bulk-actions",
    summary="Apply an action to a selection of leads (runs in the background)",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": BulkAction}}},
        **documented_errors(400, 401, 403, 404, 422),
    },
)
def create_bulk_action(request: Annotated[BulkActionCreate, Body()]) -> Response[BulkAction]:
    """`action` with its `params`: set_status {status}, set_owner {owner_id}, add_tags/remove_tags {tags},
    add_to_list/remove_from_list {list_id}, export {format, fields?}, delete {} (admins and managers).
    Each lead goes through the same rules as `PATCH`/`DELETE /leads/{lead_id}`: reps acting on another
    user's lead get it reported as failed (forbidden); leads deleted meanwhile are skipped (not found)."""

    action = get_wiring().bulk_action_service.create(current_principal(router), request)
    return Response(status_code=202, content_type=JSON, body=action)


@router.get(
    "/bulk-actions",
    summary="Bulk-action history, newest first",
    responses={
        200: {"description": "One page of bulk actions", "content": {JSON: {"model": BulkActionList}}},
        **documented_errors(400, 401, 422),
    },
)
def list_bulk_actions(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> BulkActionList:
    """Admins and managers see every bulk action of the tenant; reps their own. No reports here."""

    return get_wiring().bulk_action_service.history(current_principal(router), limit=limit, cursor=cursor)


@router.get(
    "/bulk-actions/<bulk_action_id>",
    summary="A bulk action's progress and partial-success report",
    responses={
        200: {"description": "The bulk action", "content": {JSON: {"model": BulkAction}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_bulk_action(bulk_action_id: BulkActionId) -> BulkAction:
    """Counts (total, processed, succeeded, failed, skipped) and `report.failures`: the first 1,000 leads
    that failed or were skipped with the reason, plus `report.download` (a CSV of all of them) when there
    are more."""

    if not _ID.match(bulk_action_id):
        raise BulkActionNotFoundError(f"bulk action {bulk_action_id} not found")
    return get_wiring().bulk_action_service.get(current_principal(router), bulk_action_id)
