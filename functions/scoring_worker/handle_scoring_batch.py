"""Scoring worker: re-scores the leads named by lead events (EventBridge rule -> SQS) and the pages of lead
ids queued by the nightly fan-out and after scoring-model changes. A lead named several times in one batch
is scored once; a page is scored as one batch (see ScoringService.rescore_page). After each rescore the
lead's segment memberships are refreshed; when that moves the lead into or out of a segment with its own
scoring model, the lead is scored once more (with the model that now applies) in the same hop."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.observability import logger, metrics
from leadtide.scoring.service import ScoringRequest, get_scoring_service, parse_scoring_message
from leadtide.segments.service import get_segment_service

processor = BatchProcessor(event_type=EventType.SQS)
_scored_in_batch: set[tuple[str, str]] = set()
# These bring new behaviour occurrences, so a lead already scored in the batch is scored again.
_ALWAYS_SCORED = {"lead.message_received", "lead.event_tracked"}
SEGMENT_CHANGED = "segment membership changed"


def score_record(record: SQSRecord) -> None:
    """Score the lead (or page of leads) a record names, each lead once per batch; raises so a failing
    record is retried."""
    request = parse_scoring_message(record.body)
    if request.is_page:
        outcomes = get_scoring_service().handle(request)
        lead_ids = [o.lead_id for o in outcomes]
    else:
        key = (request.tenant_id, request.lead_id)
        if key in _scored_in_batch and request.cause not in _ALWAYS_SCORED:
            return
        get_scoring_service().handle(request)
        lead_ids = [request.lead_id]
    for lead_id in lead_ids:  # after each rescore: segments follow in the same hop
        changed = get_segment_service().refresh_lead(request.tenant_id, lead_id)
        moved = [*changed.entered, *changed.exited]
        if moved and get_scoring_service().scores_by_segment(request.tenant_id, moved):
            get_scoring_service().handle(ScoringRequest(request.tenant_id, lead_id, SEGMENT_CHANGED))
            get_segment_service().refresh_lead(request.tenant_id, lead_id)  # once: no ping-pong
        _scored_in_batch.add((request.tenant_id, lead_id))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping entry point (FunctionResponseTypes: ReportBatchItemFailures)."""
    _scored_in_batch.clear()
    return process_partial_response(
        event=event, record_handler=score_record, processor=processor, context=context
    )
