"""Ingest worker: SQS batches of ingest commands -> leads, timeline activities and lead events.

A message is one command, or a claim check naming a delivery too large to queue, stored whole in S3
(``leadtide.models.messages.StoredDelivery``): its commands are parsed from it here.

Partial batch failures: a record that fails is reported back (ReportBatchItemFailures) and retried by
SQS; after maxReceiveCount it moves to the dead-letter queue. Nothing is dropped silently.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.models.messages import IngestEnvelope
from leadtide.observability import logger, metrics, traced
from leadtide.wiring import get_wiring

processor = BatchProcessor(event_type=EventType.SQS)


def capture_record(record: SQSRecord) -> str:
    """Capture one queued command, or every command of a claim-checked delivery (fetched from S3);
    raises (so the record is retried) on any failure. Capture is idempotent per provider message, so a
    retried delivery adds only what an earlier attempt did not."""
    envelope = IngestEnvelope.model_validate_json(record.body)
    if envelope.command is not None:
        commands = [envelope.command]
    else:
        assert envelope.delivery is not None  # the envelope holds exactly one of the two
        commands = get_wiring().stored_delivery_reader.commands(envelope.delivery)
    outcomes = []
    for command in commands:
        result = get_wiring().capture_service.capture(command)
        metrics.add_metric(name=f"Capture_{result.outcome}", unit="Count", value=1)
        logger.debug("captured", extra={"outcome": result.outcome, "lead_id": result.lead_id})
        outcomes.append(str(result.outcome))
    return ",".join(outcomes)


@logger.inject_lambda_context
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """SQS event source mapping entry point (FunctionResponseTypes: ReportBatchItemFailures)."""
    return process_partial_response(
        event=event, record_handler=capture_record, processor=processor, context=context
    )
