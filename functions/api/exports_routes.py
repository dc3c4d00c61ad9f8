"""Export routes: request a CSV, XLSX or JSON Lines export of leads, follow it, download it.

The file is produced in the background (jobs queue, kind ``exports.run``); ``GET /exports/{export_id}``
reports progress and, once completed, a presigned download URL valid 15 minutes.
"""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.errors import ExportNotFoundError
from leadtide.models.exports import Export, ExportCreate, ExportList
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

ExportId = Annotated[str, Path(description="export id (32 hex characters)")]
_ID = re.compile(r"^[0-9a-f]{32}$")


@router.post(
    "/exports",
    summary="Export leads to CSV, XLSX or JSON Lines (runs in the background)",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": Export}}},
        **documented_errors(400, 401, 404, 422),
    },
)
def create_export(request: Annotated[ExportCreate, Body()]) -> Response[Export]:
    """Select leads with `selection` (lead_ids, list_id, segment_id or filter) or the `GET /leads` filters
    at the top level; every lead you can see when neither is given. Columns: `fields`, or every lead field
    and every custom field (headed by its label). CSV is UTF-8 with a BOM and formula-safe cells; JSON is
    JSON Lines. Follow `GET /exports/{export_id}` for the download link."""

    export = get_wiring().export_service.create(current_principal(router), request)
    return Response(status_code=202, content_type=JSON, body=export)


@router.get(
    "/exports",
    summary="Export history, newest first",
    responses={
        200: {"description": "One page of exports", "content": {JSON: {"model": ExportList}}},
        **documented_errors(400, 401, 422),
    },
)
def list_exports(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> ExportList:
    """Admins and managers see every export of the tenant; reps their own. No download links here."""

    return get_wiring().export_service.history(current_principal(router), limit=limit, cursor=cursor)


@router.get(
    "/exports/<export_id>",
    summary="An export's progress and, once completed, its download link",
    responses={
        200: {"description": "The export", "content": {JSON: {"model": Export}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_export(export_id: ExportId) -> Export:
    """`status` is queued, running, completed or failed; `download.url` (completed only) is a presigned
    link valid until `download.expires_at` — ask again for a fresh one."""

    if not _ID.match(export_id):
        raise ExportNotFoundError(f"export {export_id} not found")
    return get_wiring().export_service.get(current_principal(router), export_id)
