"""Scheduled camera watchdog: restarts processors, flags offline cameras, publishes changes."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.fleet.processors import StreamProcessors
from facewatch.fleet.registry import RegistryReader
from facewatch.fleet.watchdog import (
    DynamoHealthStore,
    EventBridgeHealthPublisher,
    KvsFragmentProbe,
    Watchdog,
    WatchdogSettings,
)
from facewatch.lease import TickLease

logger = Logger()
metrics = Metrics()
tracer = Tracer()
# Standard mode retries throttling with backoff; adaptive also slows the client down.
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8})


@cache
def _media_client(endpoint: str) -> Any:
    return boto3.client("kinesis-video-archived-media", endpoint_url=endpoint, config=RETRIES)


@cache
def dependencies() -> tuple[Watchdog, RegistryReader]:
    settings = WatchdogSettings.from_env(os.environ)
    dynamodb = boto3.resource("dynamodb", config=RETRIES)
    watchdog = Watchdog(
        fragments=KvsFragmentProbe(boto3.client("kinesisvideo", config=RETRIES), _media_client),
        processors=StreamProcessors(boto3.client("rekognition", config=RETRIES)),
        store=DynamoHealthStore(dynamodb, settings.table_name),
        publisher=EventBridgeHealthPublisher(
            boto3.client("events", config=RETRIES), settings.event_bus_name
        ),
        policy=settings.policy,
        workers=settings.workers,
        log=logger.warning,
    )
    return watchdog, RegistryReader(dynamodb.Table(settings.table_name))


def handle(watchdog: Watchdog, registry: RegistryReader, now: datetime) -> dict[str, Any]:
    summary = watchdog.tick(registry.cameras(), now)
    metrics.add_metric("CamerasChecked", MetricUnit.Count, summary.cameras)
    metrics.add_metric("HealthChanges", MetricUnit.Count, summary.changes)
    metrics.add_metric("ProcessorActionErrors", MetricUnit.Count, summary.action_errors)
    metrics.add_metric("CameraCheckErrors", MetricUnit.Count, summary.observe_errors)
    logger.info("watchdog tick", extra=asdict(summary))
    if summary.unpublished:
        # Failing the invocation makes the error visible (alarm); unpublished changes were not
        # stored, so the next tick publishes them again.
        raise RuntimeError(f"{summary.unpublished} health change(s) not published")
    return asdict(summary)


LEASE_SECONDS = 120  # the function's timeout: a crashed tick's lease is free by then


def tick_lease(owner: str) -> TickLease:
    client = boto3.client("dynamodb", config=RETRIES)
    return TickLease(
        client, os.environ["TABLE_NAME"], "watchdog", owner, duration_seconds=LEASE_SECONDS
    )


def handle_once(
    lease: TickLease, watchdog: Watchdog, registry: RegistryReader, now: datetime
) -> dict[str, Any]:
    """One tick at a time: overlapping ticks would restart the same processor twice."""
    if not lease.acquire():
        logger.info("watchdog tick skipped: another tick holds the lease")
        return {"skipped": True}
    try:
        return handle(watchdog, registry, now)
    finally:
        lease.release()


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parse(event=event, model=EventBridgeModel)  # only the schedule invokes it
    watchdog, registry = dependencies()
    # The clock, not the event time: a delayed invocation must judge the cameras as of now.
    return handle_once(tick_lease(context.aws_request_id), watchdog, registry, datetime.now(UTC))
