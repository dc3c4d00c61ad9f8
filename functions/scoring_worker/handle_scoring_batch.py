"""Scoring worker: re-scores the leads named by lead events (EventBridge rule -> SQS) and the nightly
fan-out. A lead named several times in one batch is scored once."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.observability import logger, metrics
from leadtide.scoring.service import get_scoring_service, parse_scoring_message

processor = BatchProcessor(event_type=EventType.SQS)
_scored_in_batch: set[tuple[str, str]] = set()


def score_record(record: SQSRecord) -> None:
    """Score the lead a record names (once per batch); raises so a failing record is retried."""
    request = parse_scoring_message(record.body)
    key = (request.tenant_id, request.lead_id)
    if key in _scored_in_batch:
        return
    get_scoring_service().rescore(request)
    _scored_in_batch.add(key)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping entry point (FunctionResponseTypes: ReportBatchItemFailures)."""
    _scored_in_batch.clear()
    return process_partial_response(
        event=event, record_handler=score_record, processor=processor, context=context
    )
