"""alert_sweeper: every minute, publish alerts that stayed pending (see face_events)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from facewatch.detections.adapters import build_adapters
from facewatch.detections.pipeline import Adapters, sweep_pending_alerts
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import FaceEventsSettings

settings = FaceEventsSettings.from_env()  # the same settings as face_events: same alerts


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: Adapters | None = None
) -> dict[str, int]:
    return {"published": sweep_pending_alerts(settings, adapters or build_adapters(settings))}
