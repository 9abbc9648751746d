"""Logger, tracer and metrics shared by every facewatch function (configured by environment:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL)."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Libraries that print secrets at DEBUG: slack_sdk the webhook URL and the message body,
# botocore every response body (GetSecretValue's SecretString), urllib3 the request URLs. They
# stay at INFO whatever the root level is (Lambda's ApplicationLogLevel, a debugging session):
# no secret at any log level.
QUIET_LIBRARIES = ("slack_sdk", "botocore", "boto3", "urllib3", "s3transfer")
for _name in QUIET_LIBRARIES:
    logging.getLogger(_name).setLevel(logging.INFO)

logger = Logger(service="facewatch")
tracer = Tracer(service="facewatch")
metrics = Metrics(namespace="Facewatch", service="facewatch")

__all__ = ["QUIET_LIBRARIES", "MetricUnit", "logger", "metrics", "tracer"]
