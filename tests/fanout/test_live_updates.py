"""The Slack message grows live: face_events publishes ``Incident Updated`` for an alerted incident
that grows, the Slack notifier turns it into chat.update, the ticker closes what the throttle
held back. moto (the template's table, an EventBridge bus with a capture queue), the real
pipeline and notifier, the local Slack Web API sink."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from moto import mock_aws

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.alerts.fanout import BusEnvelope, Outcome, UnsupportedEventError
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.notifier import NoSnapshots, SlackAdapters, SlackNotifier
from facewatch.alerts.slack.threads import DynamoMessageStore, SlackThreads, ThreadSettings
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.sms.notifier import SmsAdapters, SmsNotifier, SnsTopic
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

pytestmark = pytest.mark.integration
TABLE = BUS = "facewatch-live"
CAMERA = "seoul-hq-lobby-01"
T0 = 1795000000.0  # frame time of the first detection
SETTINGS = FaceEventsSettings.model_validate(
    {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "REJECTED_QUEUE_URL": "q"}
)


@dataclass
class World:
    capture: str
    adapters: Adapters
    notifier: SlackNotifier
    threads: SlackThreads
    sink: SlackSink
    arn: str
    now: list[float]
    sequence: int = 10**20
    published: list[BusEnvelope] = field(default_factory=list)
    seen: list[BusEnvelope] = field(default_factory=list)

    def frames(self, *offsets: float, face: FaceSpec | None = None) -> list[str]:
        """One face_events invocation; returns the detail-types it published."""
        records = [
            frame_record(CAMERA, T0 + t, [face or FaceSpec()], arn=self.arn) for t in offsets
        ]
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
        """The Slack notifier on what the bus carried (the lifecycle and alert rules' events)."""
        return [self.notifier.deliver(e) for e in self.published]

    def message_incident(self) -> str:
        """The one incident of these tests (its id is its first frame's hash)."""
        (incident,) = {str(e.detail["incidentId"]) for e in self.seen}
        return incident

    @property
    def message(self) -> SinkMessage:
        (message,) = self.sink.top_level()
        return message

    def reads(self) -> str:
        return self.message.current.text()


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        create_table_from_template(TABLE)
        capture = capture_bus(BUS)
        session = boto3.Session(region_name=REGION)
        rejects = session.client("sqs").create_queue(QueueName="rejects")["QueueUrl"]
        kvs = session.client("kinesisvideo")
        arn = kvs.create_stream(StreamName=CAMERA, DataRetentionInHours=24)["StreamARN"]
        now = [T0 + 2]  # the wall clock, just after the first frames
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
        sink = SlackSink(clock=lambda: now[0]).start()
        config = SlackAppConfig(sink.token, {"default": "C0DEFAULT"})
        api = SlackWebApi(base_url=sink.api_url, sleep=lambda _s: None, clock=lambda: now[0])
        threads = SlackThreads(
            DynamoMessageStore(dynamodb, TABLE),
            api,
            lambda: config.bot_token,
            ThreadSettings(min_update_interval=10, window_seconds=60),
            ClipLinks().link_for,
        )
        notifier = SlackNotifier(
            SlackAdapters(
                routes=WebhookRoutes(lambda: {"default": "http://127.0.0.1:9/unused"}),
                sender=SlackPoster(),
                once=InMemoryOnce(),
                clip_links=ClipLinks(),
                snapshots=NoSnapshots(),
                app=lambda: config,
                threads=threads,
                clock=lambda: now[0],
            )
        )
        try:
            yield World(capture, adapters, notifier, threads, sink, arn, now)
        finally:
            sink.stop()


def test_the_message_grows_live_and_the_ticker_closes_the_gap(world: World) -> None:
    assert world.frames(0, 1) == ["Unknown Face Detected"]
    assert world.notify() == [Outcome.SENT]  # chat.postMessage
    assert "2 frames with an unknown face" in world.reads()

    world.now[0] = T0 + 5
    assert world.frames(2, 3, 4) == ["Incident Updated"]
    assert world.notify() == [Outcome.SENT]  # chat.update, 3 s after the alert
    assert len(world.message.versions) == 2
    assert "5 frames with an unknown face over 4 s" in world.reads()

    world.now[0] = T0 + 9
    assert world.frames(5, 6) == []  # 4 s after the last update: held back at the source
    assert "5 frames" in world.reads()

    world.now[0] = T0 + 20  # the ticker's next minute brings the trailing change
    assert world.threads.reconcile(world.message_incident(), world.now[0]) == "updated"
    assert "7 frames with an unknown face over 6 s" in world.reads()
    assert len(world.message.versions) == 3
    assert world.sink.replies(world.message) == []  # the visit goes on: no "ended" note


def test_a_clearer_face_and_a_closer_employee_show_in_the_message(world: World) -> None:
    far = FaceSpec(employee_id="EMP-10442", similarity=70.0, confidence=91.0)
    world.frames(0, 1, face=far)
    world.notify()
    assert "face found (91%)" in world.reads()
    world.now[0] = T0 + 3
    closer = FaceSpec(employee_id="EMP-10442", similarity=78.0, confidence=99.6, width=0.2)
    assert world.frames(2, face=closer) == ["Incident Updated"]
    world.notify()
    assert "face found (100%)" in world.reads()
    assert "possible: EMP-10442 (78%)" in world.reads()


def test_a_repeated_or_late_update_changes_nothing(world: World) -> None:
    world.frames(0, 1)
    world.notify()
    world.now[0] = T0 + 3
    world.frames(2)
    [update] = world.published
    assert world.notifier.deliver(update) is Outcome.SENT
    world.now[0] = T0 + 30
    # EventBridge's at-least-once delivery, or a replay from the DLQ: same item, same message
    assert world.notifier.deliver(update) is Outcome.UNCHANGED
    assert len(world.message.versions) == 2


def test_an_update_before_the_message_exists_waits_for_the_ticker(world: World) -> None:
    world.frames(0, 1)
    alert = world.published
    world.now[0] = T0 + 3
    world.frames(2)
    assert world.notify() == [Outcome.UNCHANGED]  # no message yet: nothing to update
    world.published = alert
    world.notify()  # the alert, posted late, as it was published
    assert "2 frames" in world.reads()
    world.now[0] = T0 + 40
    assert world.threads.reconcile(world.message_incident(), world.now[0]) == "updated"
    assert "3 frames" in world.reads()


def test_webhook_mode_leaves_its_one_message_alone(world: World) -> None:
    world.frames(0, 1)
    world.now[0] = T0 + 3
    world.frames(2)
    [update] = world.published
    webhook = SlackNotifier(
        SlackAdapters(
            routes=WebhookRoutes(lambda: {"default": "http://127.0.0.1:9/unused"}),
            sender=SlackPoster(),
            once=InMemoryOnce(),
            clip_links=ClipLinks(),
            snapshots=NoSnapshots(),
        )
    )
    assert webhook.deliver(update) is Outcome.NOT_ROUTED


def test_sms_is_never_updated(world: World) -> None:
    world.frames(0, 1)
    world.now[0] = T0 + 3
    world.frames(2)
    [update] = world.published
    topic = SnsTopic(boto3.client("sns", region_name=REGION), _topic_arn())
    sms = SmsNotifier(SmsAdapters(topic=topic, once=InMemoryOnce(), clip_links=ClipLinks()))
    with pytest.raises(UnsupportedEventError):  # and no rule routes it there (template tests)
        sms.deliver(update)


def _topic_arn() -> str:
    arn: str = boto3.client("sns", region_name=REGION).create_topic(Name="fw-alerts")["TopicArn"]
    return arn
