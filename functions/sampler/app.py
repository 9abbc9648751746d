"""Frame sampler: a scheduled invocation serves a group of cameras for a bounded time, writing
stream-processor-format records to the detections stream, then hands over to the next one."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.fleet.watchdog import EventBridgeHealthPublisher
from facewatch.sampler.camera import SamplerDeps
from facewatch.sampler.checkpoint import CheckpointStore
from facewatch.sampler.faces import FaceRules, FaceSearcher
from facewatch.sampler.frames import KvsFrames
from facewatch.sampler.recordwriter import RecordWriter
from facewatch.sampler.run import SamplerRequest, SystemClock, run_group
from facewatch.sampler.settings import SamplerSettings

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"facewatch.sampler.camera"})
metrics = Metrics()
tracer = Tracer()
settings = SamplerSettings.from_env()  # fails the cold start with a clear message
# One retry inside botocore, short timeouts: the sampler backs off itself and keeps the newest
# frames, and no call may outlive the stop margin.
_config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=4)
_clock = SystemClock()
_frames = KvsFrames(
    boto3.client("kinesisvideo", config=_config),
    lambda endpoint: boto3.client(
        "kinesis-video-archived-media", endpoint_url=endpoint, config=_config
    ),
)
_searcher = FaceSearcher(
    boto3.client("rekognition", config=_config),
    FaceRules.from_settings(settings),
)
_writer = RecordWriter(
    boto3.client("kinesis", config=_config), settings.detections_stream_name, _clock.sleep
)
_dynamodb = boto3.client("dynamodb", config=_config)
_health = (
    EventBridgeHealthPublisher(
        boto3.client("events", config=_config), settings.event_bus_name, sleep=_clock.sleep
    )
    if settings.event_bus_name
    else None
)
_pool = ThreadPoolExecutor(max_workers=settings.concurrency)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=SamplerRequest)
def lambda_handler(event: SamplerRequest, context: LambdaContext) -> dict[str, Any]:
    deps = SamplerDeps(
        frames=_frames,
        searcher=_searcher,
        writer=_writer,
        store=CheckpointStore(_dynamodb, settings.table_name, owner=context.aws_request_id),
        clock=_clock,
        rng=random.Random(),  # noqa: S311 - backoff jitter, not security
        health=_health,
    )
    report = run_group(
        event, settings, deps, context.get_remaining_time_in_millis, map_fn=_pool.map
    )
    metrics.add_dimension(name="group", value=report.group)
    for name, value in report.metrics().items():
        unit = MetricUnit.Seconds if name == "GapSeconds" else MetricUnit.Count
        metrics.add_metric(name=name, unit=unit, value=value)
    if report.latency_max_ms is not None:
        metrics.add_metric(
            name="RecordLatencyMax", unit=MetricUnit.Milliseconds, value=report.latency_max_ms
        )
    logger.info("sampler run", extra={"report": report.model_dump(mode="json")})
    return report.model_dump(mode="json")
