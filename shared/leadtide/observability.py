"""Powertools logger and metrics shared by every function (service name from POWERTOOLS_SERVICE_NAME)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Handlers that answer without recording a metric (a handshake, a read) are normal here, not a fault.
warnings.filterwarnings("ignore", message="No application metrics to publish")
