"""Powertools logger, metrics and tracer shared by every function (service name from POWERTOOLS_SERVICE_NAME)."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Handlers that answer without recording a metric (a handshake, a read) are normal here, not a fault.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# botocore logs whole request bodies at DEBUG, and a CreateSecret body holds a channel's secret. Whatever level
# the function's logs run at, AWS SDK internals stay at INFO so secrets never reach the logs.
for _sdk_logger in ("botocore", "boto3", "pynamodb", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.INFO)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """Powertools Tracer around a Lambda handler (``@tracer.capture_lambda_handler``: an X-Ray subsegment
    per invocation, cold start and errors annotated; the template sets ``Tracing: Active``).

    The Tracer is made on the first invocation, and only where tracing is on (Powertools' own rule:
    inside Lambda, outside SAM local, unless ``POWERTOOLS_TRACE_DISABLED``): making a ``Tracer`` imports
    the X-Ray SDK (about as much as the rest of an API function's imports), which a process that does not
    trace should not pay. Where tracing is on, the first invocation pays it, as it would at import.
    """
    chosen: Callable[..., Any] | None = None

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        nonlocal chosen
        if chosen is None:
            from aws_lambda_powertools.tracing import Tracer

            # Tracer._is_tracer_disabled is the rule Tracer() itself applies (a static method: no SDK import).
            chosen = handler if Tracer._is_tracer_disabled() else Tracer().capture_lambda_handler(handler)
        return chosen(event, context)

    return entry  # type: ignore[return-value]
