"""face_events: Rekognition face-search records from Kinesis -> incidents -> alert events."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.clips import KvsClipProvider
from facewatch.eventbus import EventBridgePublisher
from facewatch.face_events import Adapters, run_batch
from facewatch.incident_store import DynamoIncidentStore
from facewatch.observability import logger, metrics, tracer
from facewatch.registry import RegistryReader
from facewatch.rejects import SqsRejectSink
from facewatch.settings import FaceEventsSettings

settings = FaceEventsSettings.from_env()  # fails the cold start with a clear message
# A batch whose every record failed is reported like any partial failure: same retry, and no
# bisecting of a batch that failed for one cause (a throttled table), not for one bad record.
processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
# The clip link is a courtesy (notifiers sign their own links): a slow KVS must not hold alerts.
_clip_calls = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2
)
_retries = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5
)


@cache
def default_adapters() -> Adapters:
    return Adapters(
        store=DynamoIncidentStore(
            boto3.client("dynamodb", config=_retries), settings.table_name, settings.retention_days
        ),
        publisher=EventBridgePublisher(
            boto3.client("events", config=_retries), settings.event_bus_name
        ),
        clips=KvsClipProvider(
            boto3.client("kinesisvideo", config=_clip_calls),
            lambda url: boto3.client(
                "kinesis-video-archived-media", endpoint_url=url, config=_clip_calls
            ),
        ),
        rejects=SqsRejectSink(boto3.client("sqs", config=_retries), settings.rejected_queue_url),
        directory=RegistryReader(
            boto3.resource("dynamodb", config=_retries).Table(settings.table_name)
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: Adapters | None = None
) -> PartialItemFailureResponse:
    return run_batch(event, context, settings, adapters or default_adapters(), processor)
