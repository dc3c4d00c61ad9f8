"""Tenant administration routes (``/admin/...``): maintenance jobs an admin starts for their own tenant, and
their progress. Logic: ``leadtide.leads.backfill``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import current_principal
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.backfill import BackfillAccepted, BackfillRun, BackfillRunList
from leadtide.wiring import get_wiring

router = APIGatewayHttpRouter()

RunId = Annotated[str, Path(description="backfill run id (32 hex characters), from the 202 of the start")]


@router.post(
    "/admin/backfill",
    summary="Bring the tenant's lead profiles' derived attributes up to date (admin; runs in the background)",
    responses={
        202: {"description": "Queued", "content": {JSON: {"model": BackfillAccepted}}},
        **documented_errors(401, 403),
    },
)
def start_backfill() -> Response[BackfillAccepted]:
    """Profiles stored before an attribute existed lack it: the condition index keys (`cond_pk`/`cond_sk`,
    so segment previews miss them), `search_text`, the inbox sort keys, or `identity_keys` (the identity
    items the lead owns, which delete removes). The job pages through the tenant's leads and writes only
    what is missing, each on condition that the lead is unchanged since read (an edit made meanwhile wins;
    start the backfill again to pick it up). It never claims identities. Idempotent: run it as often as
    needed. Follow the run at `status_url` (`GET /admin/backfill/{run_id}`, also the `Location` header):
    status running, completed or failed, and its totals (scanned, updated, up_to_date, skipped_concurrent,
    unreadable, attributes written). 403 for managers and reps."""

    accepted = get_wiring().backfill_service.start(current_principal(router))
    return Response(
        status_code=202, content_type=JSON, body=accepted, headers={"Location": accepted.status_url}
    )


@router.get(
    "/admin/backfill",
    summary="The tenant's profile backfill runs, newest first (admin)",
    responses={
        200: {"description": "One page of runs", "content": {JSON: {"model": BackfillRunList}}},
        **documented_errors(400, 401, 403, 422),
    },
)
def list_backfill_runs(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=2048)
    ] = None,
) -> BackfillRunList:
    """Every run of the caller's tenant with its status and totals, newest first; `next_cursor` pages on
    (400 for a malformed cursor or one from another tenant). 403 for managers and reps."""

    return get_wiring().backfill_service.list_runs(current_principal(router), limit=limit, cursor=cursor)


@router.get(
    "/admin/backfill/<run_id>",
    summary="Progress and totals of one profile backfill run (admin)",
    responses={
        200: {"description": "The run", "content": {JSON: {"model": BackfillRun}}},
        **documented_errors(401, 403, 404, 422),
    },
)
def get_backfill_run(run_id: RunId) -> BackfillRun:
    """`status` running, completed (with `finished_at`) or failed (with `error`: an invalid cursor, or a
    step that failed three times; profiles updated before stay updated). The counts are totals over the
    pages done so far, each page counted once. 404 for an unknown run or another tenant's; 403 for
    managers and reps."""

    return get_wiring().backfill_service.get_run(current_principal(router), run_id)
