"""Training function: trains predictive-scoring models and keeps their performance records.

Invoked by the TrainingQueue (``train`` requests from the API and the retraining fan-out; ``lead.updated``
events with a status change, routed by a rule, whose outcome is recorded against the model that scored the
lead) and directly by the weekly schedule (``{"kind": "retrain_all"}``). See leadtide.ml.train_job.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.ml.train_job import parse_training_message
from leadtide.observability import logger, metrics, traced
from leadtide.wiring import get_wiring

processor = BatchProcessor(event_type=EventType.SQS)


def run_record(record: SQSRecord) -> None:
    """Run the message a record carries; raises so a failing one is retried, then dead-lettered."""
    get_wiring().training_job.handle(parse_training_message(record.body))


@logger.inject_lambda_context
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping (ReportBatchItemFailures), or the schedule's Input as the event."""
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=run_record, processor=processor, context=context
        )
    queued = get_wiring().training_job.handle(event)
    metrics.add_metric(name="ModelTrainingsQueued", unit="Count", value=int(queued or 0))
    logger.info("scheduled retraining queued", extra={"versions": queued})
    return {"queued": queued}
