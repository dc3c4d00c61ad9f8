"""Tenant administration routes (``/admin/...``): maintenance jobs an admin starts for their own tenant."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from leadtide.api.context import principal_of
from leadtide.api.errors import JSON, documented_errors
from leadtide.models.backfill import BackfillAccepted

router = APIGatewayHttpRouter()


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
    needed. Progress and the summary (scanned, updated, skipped) are in the jobs worker's logs under
    `run_id`. 403 for managers and reps."""
    from leadtide.leads.backfill import get_backfill_service

    accepted = get_backfill_service().start(principal_of(router.current_event))
    return Response(status_code=202, content_type=JSON, body=accepted)
