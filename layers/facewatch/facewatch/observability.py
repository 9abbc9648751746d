"""Logger, tracer and metrics shared by every facewatch function (configured by environment:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Libraries that print secrets at DEBUG: slack_sdk the webhook URL and the message body,
# botocore every response body (GetSecretValue's SecretString), urllib3 the request URLs. They
# stay at INFO whatever the root level is (Lambda's ApplicationLogLevel, a debugging session):
# no secret at any log level.
QUIET_LIBRARIES = ("slack_sdk", "botocore", "boto3", "urllib3", "s3transfer")
for _name in QUIET_LIBRARIES:
    logging.getLogger(_name).setLevel(logging.INFO)

logger = Logger(service="facewatch")
metrics = Metrics(namespace="Facewatch", service="facewatch")


def __getattr__(name: str) -> Any:
    """``tracer`` is made on first use: the X-Ray SDK costs a cold start a good part of a
    second, and the Slack front door (answered within 3 s) does without it."""
    if name == "tracer":
        from aws_lambda_powertools import Tracer  # noqa: PLC0415 - the point: only when used

        made = Tracer(service="facewatch")
        globals()["tracer"] = made
        return made
    raise AttributeError(name)


if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    tracer: Tracer

__all__ = ["QUIET_LIBRARIES", "MetricUnit", "logger", "metrics", "tracer"]
