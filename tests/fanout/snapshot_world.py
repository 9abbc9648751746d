"""A visit through face_events and the Slack notifier with real snapshots: the template's table,
an S3 bucket (versioned, as template.yaml has it) and a KVS stream on moto; GetImages, which
moto lacks, through botocore's Stubber (each request checked against the service model and the
expected parameters; each answer shaped as KVS answers). The local Slack Web API sink."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws
from PIL import Image

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.alerts.event import AlertDetail
from facewatch.alerts.fanout import BusEnvelope, Outcome
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.notifier import SlackAdapters, SlackNotifier
from facewatch.alerts.slack.threads import (
    BetterSnapshots,
    DynamoMessageStore,
    SlackThreads,
    ThreadSettings,
)
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.snapshots import (
    BoundedSnapshots,
    KvsFrameGrabber,
    S3Snapshots,
    SnapshotPolicy,
)
from facewatch.alerts.view import ClipLinks
from facewatch.clips.hls import KvsClipProvider
from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.detections.rejects import SqsRejectSink
from facewatch.detections.store import DynamoIncidentStore
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from facewatch_tools.local.slack_sink import SinkMessage, SlackSink
from tests.aws import REGION, capture_bus, create_table_from_template, drain
from tests.fanout.builders import InMemoryOnce

TABLE = BUS = "facewatch-snap"
BUCKET = "facewatch-snap-snapshots"
CAMERA = "seoul-hq-lobby-01"
T0 = 1795000000.0  # frame time of the first detection
INTERVAL = 10.0  # SLACK_UPDATE_MIN_INTERVAL_SECONDS (and face_events' update interval)
SETTINGS = FaceEventsSettings.model_validate(
    {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "REJECTED_QUEUE_URL": "q"}
)
SMALL = FaceSpec()  # 0.1 x 0.16 at 99.5 %: score 1.59
MARGINAL = FaceSpec(width=0.11, height=0.2)  # score 2.19: 1.38x, under the 1.5x margin
CLEAR = FaceSpec(width=0.2, height=0.3)  # score 5.97: 3.75x
CLEARER = FaceSpec(width=0.3, height=0.4)  # score 11.9: 2x CLEAR
DEFAULT_POLICY = SnapshotPolicy()  # no blur, the bucket's default retention


def jpeg(seed: int, size: tuple[int, int] = (320, 180)) -> bytes:
    """A distinct, detailed frame (noise): blur has something to remove everywhere."""
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset, UTC)


@dataclass
class World:
    capture: str
    adapters: Adapters
    notifier: SlackNotifier
    threads: SlackThreads  # the notifier's (takes better snapshots)
    ticker: SlackThreads  # the alert ticker's (its role reaches no video: keeps the snapshot)
    sink: SlackSink
    arn: str
    now: list[float]
    stubber: Stubber
    s3: Any
    dynamodb: Any
    get_images: list[datetime]  # StartTimestamp of every GetImages request, in order
    policy: list[SnapshotPolicy]
    sequence: int = 10**20
    published: list[BusEnvelope] = field(default_factory=list)
    seen: list[BusEnvelope] = field(default_factory=list)

    def frames(self, *offsets: float, face: FaceSpec = SMALL) -> list[str]:
        """One face_events invocation; returns the detail-types it published."""
        records = [frame_record(CAMERA, T0 + t, [face], arn=self.arn) for t in offsets]
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        event = kinesis_event(records, first_sequence=self.sequence)
        self.sequence += len(records)
        response = run_batch(event, None, SETTINGS, self.adapters, processor)
        assert response["batchItemFailures"] == []
        self.published = [BusEnvelope.model_validate(e) for e in drain(self.capture)]
        self.seen += self.published
        return [e.detail_type for e in self.published]

    def notify(self) -> list[Outcome]:
        return [self.notifier.deliver(e) for e in self.published]

    def expect_frame(self, offset: float, content: bytes) -> None:
        """KVS has the frame: the first image of the window has content."""
        start = at(offset)
        self.stubber.add_response(
            "get_images",
            {"Images": [{"TimeStamp": start, "ImageContent": base64.b64encode(content).decode()}]},
            self._request(start),
        )

    def expect_no_media(self, offset: float) -> None:
        """KVS answers, but no fragment holds the window (what GetImages says for a gap)."""
        start = at(offset)
        images = [
            {"TimeStamp": start + timedelta(milliseconds=200 * i), "Error": "NO_MEDIA"}
            for i in range(5)
        ]
        self.stubber.add_response("get_images", {"Images": images}, self._request(start))

    def _request(self, start: datetime) -> dict[str, Any]:
        return {
            "StreamARN": self.arn,
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "StartTimestamp": start,
            "EndTimestamp": start + timedelta(seconds=2),
            "SamplingInterval": 200,
            "Format": "JPEG",
            "FormatConfig": {"JPEGQuality": "80"},
            "WidthPixels": 1280,
            "MaxResults": 5,
        }

    @property
    def incident_id(self) -> str:
        (incident,) = {str(e.detail["incidentId"]) for e in self.seen}
        return incident

    @property
    def message(self) -> SinkMessage:
        (message,) = self.sink.top_level()
        return message

    def item(self) -> dict[str, Any]:
        found: dict[str, Any] = self.dynamodb.get_item(
            TableName=TABLE,
            Key={"PK": {"S": f"INCIDENT#{self.incident_id}"}, "SK": {"S": "INCIDENT"}},
            ConsistentRead=True,
        )["Item"]
        return found

    def object_keys(self) -> list[str]:
        versions = self.s3.list_object_versions(Bucket=BUCKET, Prefix="snapshots/")
        return sorted(v["Key"] for v in versions.get("Versions", []))


def image_of(version: dict[str, Any]) -> dict[str, Any] | None:
    """The message version's image block (None: it has no snapshot)."""
    images = [b for b in version["blocks"] if b["type"] == "image"]
    return images[0] if images else None


@contextmanager
def snapshot_world(policy: SnapshotPolicy = DEFAULT_POLICY) -> Iterator[World]:
    with mock_aws():
        create_table_from_template(TABLE)
        capture = capture_bus(BUS)
        session = boto3.Session(region_name=REGION)
        rejects = session.client("sqs").create_queue(QueueName="rejects")["QueueUrl"]
        kvs = session.client("kinesisvideo")
        arn = kvs.create_stream(StreamName=CAMERA, DataRetentionInHours=24)["StreamARN"]
        s3 = session.client("s3", config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        media = session.client("kinesis-video-archived-media")
        get_images: list[datetime] = []

        def count(params: dict[str, Any], **_: Any) -> None:
            get_images.append(params["StartTimestamp"])

        media.meta.events.register(
            "before-parameter-build.kinesis-video-archived-media.GetImages", count
        )
        now = [T0 + 2]
        dynamodb = session.client("dynamodb")
        adapters = Adapters(
            store=DynamoIncidentStore(dynamodb, TABLE, 400, clock=lambda: now[0]),
            publisher=EventBridgePublisher(session.client("events"), BUS, sleep=lambda _: None),
            clips=KvsClipProvider(
                kvs, lambda url: session.client("kinesis-video-archived-media", endpoint_url=url)
            ),
            rejects=SqsRejectSink(session.client("sqs"), rejects),
            clock=lambda: now[0],
        )
        policies = [policy]
        bounded = BoundedSnapshots(
            S3Snapshots(
                KvsFrameGrabber(kvs, lambda _url: media),
                s3,
                BUCKET,
                3600,
                policy_for=lambda _detail: policies[0],
            ),
            timeout=10,  # generous: the deadline is tested in test_snapshots.py
        )
        sink = SlackSink(clock=lambda: now[0]).start()
        config = SlackAppConfig(sink.token, {"default": "C0DEFAULT"})
        api = SlackWebApi(base_url=sink.api_url, sleep=lambda _s: None, clock=lambda: now[0])
        store = DynamoMessageStore(dynamodb, TABLE)
        thread_settings = ThreadSettings(min_update_interval=INTERVAL, window_seconds=60)

        def threads(snapshots: BetterSnapshots | None) -> SlackThreads:
            token: Callable[[], str] = lambda: config.bot_token  # noqa: E731
            return SlackThreads(
                store, api, token, thread_settings, ClipLinks().link_for, snapshots=snapshots
            )

        notifier_threads = threads(BetterSnapshots(bounded, store))
        notifier = SlackNotifier(
            SlackAdapters(
                routes=WebhookRoutes(lambda: {"default": "http://127.0.0.1:9/unused"}),
                sender=SlackPoster(),
                once=InMemoryOnce(),
                clip_links=ClipLinks(),
                snapshots=bounded,
                app=lambda: config,
                threads=notifier_threads,
                clock=lambda: now[0],
            )
        )
        with Stubber(media) as stubber:
            try:
                yield World(
                    capture=capture,
                    adapters=adapters,
                    notifier=notifier,
                    threads=notifier_threads,
                    ticker=threads(None),
                    sink=sink,
                    arn=arn,
                    now=now,
                    stubber=stubber,
                    s3=s3,
                    dynamodb=dynamodb,
                    get_images=get_images,
                    policy=policies,
                )
                stubber.assert_no_pending_responses()  # every GetImages expected was asked for
            finally:
                sink.stop()


def alert_of(world: World) -> AlertDetail:
    (alert,) = [e for e in world.seen if e.detail_type == "Unknown Face Detected"]
    return AlertDetail.model_validate(alert.detail)
