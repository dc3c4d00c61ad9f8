"""Powertools logger and metrics shared by every function (service name from POWERTOOLS_SERVICE_NAME)."""

from __future__ import annotations

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Handlers that answer without recording a metric (a handshake, a read) are normal here, not a fault.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# botocore logs whole request bodies at DEBUG, and a CreateSecret body holds a channel's secret. Whatever level
# the function's logs run at, AWS SDK internals stay at INFO so secrets never reach the logs.
for _sdk_logger in ("botocore", "boto3", "pynamodb", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.INFO)
