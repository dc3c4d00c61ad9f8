"""Jobs worker: runs background job steps from the jobs queue (imports, exports, bulk actions, duplicate
detection) and the S3 upload events a rule routes there. See leadtide.jobs.dispatch."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.jobs.dispatch import run_job
from leadtide.observability import logger, metrics, traced
from leadtide.wiring import get_wiring

processor = BatchProcessor(event_type=EventType.SQS)


def run_record(record: SQSRecord) -> None:
    """Run the job step a record carries; raises so a failing step is retried, then dead-lettered."""
    run_job(json.loads(record.body), get_wiring())


@logger.inject_lambda_context
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping entry point (FunctionResponseTypes: ReportBatchItemFailures).

    A scheduler target (EventBridge Scheduler ``Input``, e.g. ``{"kind": "duplicates.scan_all"}``) arrives
    without ``Records`` and runs as one job step (raising makes the scheduler retry it).
    """
    if "Records" not in event and "kind" in event:
        run_job(event, get_wiring())
        return {"ran": event["kind"]}
    return process_partial_response(
        event=event, record_handler=run_record, processor=processor, context=context
    )
