"""Scoring worker: re-scores the leads named by lead events (EventBridge rule -> SQS) and the pages of lead
ids queued by the nightly fan-out and after scoring-model changes, then refreshes their segments
(:mod:`leadtide.scoring.worker`)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.observability import logger, metrics, traced
from leadtide.scoring.worker import score_message
from leadtide.wiring import get_wiring

processor = BatchProcessor(event_type=EventType.SQS)
_scored_in_batch: set[tuple[str, str]] = set()


def score_record(record: SQSRecord) -> None:
    """Score one record's lead or page; raises so a failing record is retried."""
    score_message(record.body, _scored_in_batch, get_wiring())


@logger.inject_lambda_context
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping entry point (FunctionResponseTypes: ReportBatchItemFailures)."""
    _scored_in_batch.clear()
    return process_partial_response(
        event=event, record_handler=score_record, processor=processor, context=context
    )
