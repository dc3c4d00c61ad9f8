"""Nightly schedule (EventBridge Scheduler): queue every lead of every tenant, in pages of lead ids, for
re-scoring so behaviour points decay."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from leadtide.observability import logger, metrics, traced
from leadtide.wiring import get_wiring


@logger.inject_lambda_context
@metrics.log_metrics
@traced
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Scheduler target; ``event`` is the schedule's Input (``{"job": "nightly_rescore"}``)."""
    queued = get_wiring().scoring_service.fan_out_nightly()
    metrics.add_metric(name="LeadsQueuedForRescore", unit="Count", value=queued)
    logger.info("nightly rescore queued", extra={"leads": queued})
    return {"queued": queued}
