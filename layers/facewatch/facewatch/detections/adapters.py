"""The AWS adapters of face_events (and of the alert sweeper, which publishes the same alerts)."""

from __future__ import annotations

import boto3
from botocore.config import Config

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.clips.hls import KvsClipProvider
from facewatch.detections.pipeline import Adapters
from facewatch.detections.rejects import SqsRejectSink
from facewatch.detections.store import DynamoIncidentStore
from facewatch.fleet.registry import RegistryReader
from facewatch.settings import FaceEventsSettings

# The clip link is a courtesy (notifiers sign their own links): a slow KVS must not hold alerts.
CLIP_CALLS = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2
)
RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5)


def build_adapters(settings: FaceEventsSettings) -> Adapters:
    registry = RegistryReader(boto3.resource("dynamodb", config=RETRIES).Table(settings.table_name))
    return Adapters(
        store=DynamoIncidentStore(
            boto3.client("dynamodb", config=RETRIES),
            settings.table_name,
            settings.retention_days,
            privacy=registry.privacy,  # TTL per item from the camera's site profile
        ),
        publisher=EventBridgePublisher(
            boto3.client("events", config=RETRIES), settings.event_bus_name
        ),
        clips=KvsClipProvider(
            boto3.client("kinesisvideo", config=CLIP_CALLS),
            lambda url: boto3.client(
                "kinesis-video-archived-media", endpoint_url=url, config=CLIP_CALLS
            ),
        ),
        rejects=SqsRejectSink(boto3.client("sqs", config=RETRIES), settings.rejected_queue_url),
        directory=registry,
        privacy=registry.privacy,  # frames of a recognition-off site are dropped
    )
