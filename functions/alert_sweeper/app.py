"""alert_sweeper: every minute, publish alerts that stayed pending (see face_events)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from facewatch.detections.adapters import build_adapters
from facewatch.detections.pipeline import Adapters, sweep_pending_alerts
from facewatch.lease import TickLease
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import FaceEventsSettings

settings = FaceEventsSettings.from_env()  # the same settings as face_events: same alerts
LEASE_SECONDS = 60  # the function's timeout: a crashed sweep's lease is free by then


def sweep_lease(owner: str) -> TickLease:
    """One sweep at a time: two would publish the same pending alert twice."""
    client = boto3.client("dynamodb")
    return TickLease(
        client, settings.table_name, "alert-sweeper", owner, duration_seconds=LEASE_SECONDS
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    adapters: Adapters | None = None,
    lease: TickLease | None = None,
) -> dict[str, int]:
    lease = lease or sweep_lease(context.aws_request_id)
    if not lease.acquire():
        return {"published": 0, "skipped": 1}
    try:
        return {"published": sweep_pending_alerts(settings, adapters or build_adapters(settings))}
    finally:
        lease.release()
