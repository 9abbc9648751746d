"""Logger, tracer and metrics shared by every facewatch function (configured by environment:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="facewatch")
tracer = Tracer(service="facewatch")
metrics = Metrics(namespace="Facewatch", service="facewatch")

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
