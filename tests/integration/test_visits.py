"""One incident per visit, whatever the order (issue: merge, late frames, clocks, stuck shards).

Each test is one defect found by driving the real pipeline on moto with Lambda's delivery
semantics; each failed before the fix. The generated version of all of them is
tests/fuzz/test_visit_properties.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError
from moto import mock_aws

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.clips.hls import KvsClipProvider
from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.detections.rejects import RejectLedger, SqsRejectSink
from facewatch.detections.store import DynamoIncidentStore, deserialize
from facewatch.settings import FaceEventsSettings
from facewatch.timestamps import iso
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import DEFAULT_STREAM_ARN, encode, kinesis_record
from tests.aws import REGION, capture_bus, create_table_from_template, drain

pytestmark = pytest.mark.integration
TABLE, BUS, CAMERA = "facewatch-visits", "facewatch-visits", "lobby-01"
T0 = 1795000000.0
OTHER_STREAM = DEFAULT_STREAM_ARN.replace("detections", "cam-lobby-01")


@dataclass
class World:
    capture: str
    rejects: str
    arn: str
    now: float = T0 + 100
    settings: dict[str, Any] = field(default_factory=dict)
    sequence: int = 10**20

    def session(self) -> boto3.Session:
        return boto3.Session(region_name=REGION)

    def adapters(self, session: boto3.Session) -> Adapters:
        return Adapters(
            store=DynamoIncidentStore(
                session.client("dynamodb"), TABLE, 400, clock=lambda: self.now
            ),
            publisher=EventBridgePublisher(session.client("events"), BUS, sleep=lambda _: None),
            clips=KvsClipProvider(
                session.client("kinesisvideo"),
                lambda url: session.client("kinesis-video-archived-media", endpoint_url=url),
            ),
            rejects=SqsRejectSink(
                session.client("sqs"),
                self.rejects,
                RejectLedger(session.client("dynamodb"), TABLE),
                clock=lambda: self.now,
            ),
            clock=lambda: self.now,
        )

    def batch(
        self,
        times: list[float],
        *,
        shard: str = "shardId-000000000000",
        stream: str = DEFAULT_STREAM_ARN,
        camera: str = CAMERA,
        edit: Callable[[dict[str, Any]], None] | None = None,
        faces: list[FaceSpec] | None = None,
    ) -> dict[str, Any]:
        records = []
        for t in times:
            payload = frame_record(camera, t, faces or [FaceSpec()], arn=self.arn)
            if edit:
                edit(payload)
            self.sequence += 1
            records.append(
                kinesis_record(
                    encode(payload), str(self.sequence), shard_id=shard, stream_arn=stream
                )
            )
        return {"Records": records}

    def deliver(
        self, event: dict[str, Any], session: boto3.Session | None = None, attempts: int = 6
    ) -> int:
        """Lambda's ESM for one shard: resend from the lowest failed record. Returns deliveries."""
        settings = FaceEventsSettings.model_validate(
            {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "REJECTED_QUEUE_URL": "q", **self.settings}
        )
        session = session or self.session()
        records = event["Records"]
        for attempt in range(1, attempts + 1):
            processor = BatchProcessor(
                EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
            )
            response = run_batch(
                {"Records": records}, None, settings, self.adapters(session), processor
            )
            failed = [str(f["itemIdentifier"]) for f in response["batchItemFailures"]]
            if not failed:
                return attempt
            lowest = min(failed, key=int)
            records = [r for r in records if int(r["kinesis"]["sequenceNumber"]) >= int(lowest)]
        raise AssertionError("shard stuck: still failing after every attempt")

    def events(self) -> list[dict[str, Any]]:
        return drain(self.capture)

    def incidents(self) -> list[dict[str, Any]]:
        client = boto3.client("dynamodb", region_name=REGION)
        items = client.scan(TableName=TABLE)["Items"]
        return [deserialize(i) for i in items if i["SK"]["S"] == "INCIDENT"]


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        create_table_from_template(TABLE)
        capture = capture_bus(BUS)
        sqs = boto3.client("sqs", region_name=REGION)
        rejects = sqs.create_queue(QueueName="rejects")["QueueUrl"]
        kvs = boto3.client("kinesisvideo", region_name=REGION)
        arn = kvs.create_stream(StreamName=CAMERA, DataRetentionInHours=24)["StreamARN"]
        yield World(capture, rejects, arn)


def alerts(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["detail"]["incidentId"] for e in events if e["detail-type"] == "Unknown Face Detected"
    ]


def updates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["detail"] for e in events if e["detail-type"] == "Incident Updated"]


def open_incidents(world: World) -> list[dict[str, Any]]:
    return [i for i in world.incidents() if i["status"] != "merged"]


def test_a_late_frame_bridging_two_incidents_merges_them(world: World) -> None:
    for t in (0, 1, 62):
        world.deliver(world.batch([T0 + t]))
    world.deliver(world.batch([T0 + 61]))  # 1 s of jitter at the window edge
    events = world.events()
    kinds = [e["detail-type"] for e in events]
    assert kinds.count("Unknown Face Detected") == 1, kinds  # the 62 s incident never alerted
    [survivor] = open_incidents(world)
    assert survivor["detections"] == 4
    assert (survivor["firstSeen"], survivor["lastSeen"]) == (iso(T0), iso(T0 + 62))


def test_a_bridge_that_reaches_min_detections_alerts(world: World) -> None:
    world.settings = {"MIN_DETECTIONS": "3"}
    for t in (90, 0, 59):
        world.deliver(world.batch([T0 + t]))
    assert len(alerts(world.events())) == 1
    [survivor] = open_incidents(world)
    assert survivor["detections"] == 3


def test_merging_two_alerted_incidents_publishes_incident_merged(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    world.deliver(world.batch([T0 + 70, T0 + 71]))
    world.deliver(world.batch([T0 + 35]))
    events = world.events()
    first, second = alerts(events)
    [merged] = [e for e in events if e["detail-type"] == "Incident Merged"]
    assert merged["detail"]["incidentId"] == second
    assert merged["detail"]["mergedInto"] == first
    absorbed = next(i for i in world.incidents() if i["incidentId"] == second)
    assert absorbed["status"] == "merged" and absorbed["mergedInto"] == first
    assert absorbed["GSI3PK"] == "STATUS#merged"
    assert "GSI4PK" not in absorbed


def test_late_frames_after_the_state_horizon_extend_their_incident(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    for hour in range(1, 3):  # newer visits push the first out of the camera state
        world.deliver(world.batch([T0 + hour * 3700, T0 + hour * 3700 + 1]))
    world.deliver(world.batch([T0 + 2]))  # a late frame of the first visit
    assert len(alerts(world.events())) == 3
    first = next(i for i in world.incidents() if i["firstSeen"] == iso(T0))
    assert first["detections"] == 3


def test_one_bad_producer_clock_does_not_trim_the_state(world: World) -> None:
    def two_hours_ahead(payload: dict[str, Any]) -> None:
        payload["InputInformation"]["KinesisVideo"]["ProducerTimestamp"] += 7200

    world.deliver(world.batch([T0, T0 + 1]))
    world.deliver(world.batch([T0 + 2], edit=two_hours_ahead))
    for t in range(3, 8):
        world.deliver(world.batch([T0 + t]))
    assert len(alerts(world.events())) == 1
    [incident] = world.incidents()
    assert incident["detections"] == 8  # the outlier counted at its server time


def test_a_frame_offset_longer_than_a_fragment_is_rejected_with_a_reason(world: World) -> None:
    def far_offset(payload: dict[str, Any]) -> None:
        payload["InputInformation"]["KinesisVideo"]["FrameOffsetInSeconds"] = 7200.0

    world.deliver(world.batch([T0, T0 + 1]))
    world.deliver(world.batch([T0 + 2], edit=far_offset))
    kept = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=world.rejects, MaxNumberOfMessages=10
    )["Messages"]
    [reason] = [json.loads(m["Body"])["reason"] for m in kept]
    assert "FrameOffsetInSeconds" in reason
    assert len(alerts(world.events())) == 1


def test_a_duplicate_of_an_old_first_frame_never_sticks_the_shard(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    for hour in range(1, 3):  # 140 newer frames: the first visit leaves the state entirely
        world.deliver(world.batch([T0 + hour * 3700 + t for t in range(70)]))
    # the producer's duplicates of the first visit (its id again), then a new visitor
    deliveries = world.deliver(world.batch([T0, T0 + 1, T0 + 3 * 3700, T0 + 3 * 3700 + 1]))
    assert deliveries == 1
    assert len(alerts(world.events())) == 4
    first = next(i for i in world.incidents() if i["firstSeen"] == iso(T0))
    assert first["detections"] == 2


def test_a_duplicate_counts_once_for_the_incident_lifetime(world: World) -> None:
    world.deliver(world.batch([T0]))  # a one-frame glimpse: no alert
    world.deliver(world.batch([T0 + 200 + t for t in range(140)]))  # another visit, 140 frames
    world.deliver(world.batch([T0]))  # the glimpse's frame again (a producer retry)
    assert len(alerts(world.events())) == 1
    glimpse = [i for i in open_incidents(world) if i["firstSeen"] == iso(T0)]
    assert glimpse == []  # never alerted, so never an item


def test_fifty_new_alerting_incidents_in_one_batch_commit(world: World) -> None:
    times = [T0 + visit * 100 + t for visit in range(50) for t in (0, 1)]
    assert world.deliver(world.batch(times)) == 1
    assert len(set(alerts(world.events()))) == 50


def test_two_invocations_never_publish_one_alert_twice(world: World) -> None:
    ours, theirs = world.session(), world.session()
    raced = {"done": False}

    def other_shard_runs_now(**_: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            world.deliver(world.batch([T0 + 3], shard="shardId-000000000001"), theirs)

    ours.events.register("before-call.events.PutEvents", other_shard_runs_now)
    world.deliver(world.batch([T0, T0 + 1]), ours)
    assert raced["done"]
    found = alerts(world.events())
    assert len(found) == 1, found


def test_a_failed_mark_sent_does_not_republish(world: World) -> None:
    session = world.session()
    failures = {"left": 1}

    def fail_first_mark_sent(params: dict[str, Any], **_: Any) -> None:
        writes = [params, *(i.get("Update", {}) for i in params.get("TransactItems", []))]
        marks = any("alertState = :s" in str(w.get("UpdateExpression", "")) for w in writes)
        if marks and failures["left"]:
            failures["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "injected"}}, "MarkSent"
            )

    session.events.register("before-parameter-build.dynamodb.*", fail_first_mark_sent)
    world.deliver(world.batch([T0, T0 + 1]), session)
    assert failures["left"] == 0
    world.deliver(world.batch([T0 + 2]), session)
    world.deliver(world.batch([T0 + 3]), session)
    assert len(alerts(world.events())) == 1


def test_extending_backwards_moves_first_seen_and_every_index_key(world: World) -> None:
    world.deliver(world.batch([T0 + 100, T0 + 101]))
    world.deliver(world.batch([T0 + 60]))
    [item] = world.incidents()
    assert item["firstSeen"] == iso(T0 + 60)
    for key in ("GSI1SK", "GSI2SK", "GSI3SK"):
        assert str(item[key]).startswith(iso(T0 + 60)), key


def test_watermarks_are_per_stream_and_shard(world: World) -> None:
    world.sequence = 10**25  # the main stream's shard is far ahead
    world.deliver(world.batch([T0, T0 + 1]))
    world.sequence = 10**5  # the camera moved to its own stream: same shard id, lower numbers
    world.deliver(world.batch([T0 + 4000, T0 + 4001], stream=OTHER_STREAM))
    assert len(alerts(world.events())) == 2


def test_a_whole_batch_redelivery_keeps_its_malformed_record_once(world: World) -> None:
    event = world.batch([T0, T0 + 1])
    event["Records"][0]["kinesis"]["data"] = base64.b64encode(b"not json").decode()
    world.deliver(event)
    world.deliver(event)  # e.g. the invocation timed out after its work was done
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=world.rejects, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


# ---- Incident Updated: the live path of a growing alert (issue 19) ----------------------------
def test_an_alerted_incident_that_grows_publishes_incident_updated(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    [alert] = alerts(world.events())
    bigger = FaceSpec(width=0.2, height=0.3, confidence=99.9)
    world.now += 1
    world.deliver(world.batch([T0 + 2, T0 + 3], faces=[bigger]))
    [update] = updates(world.events())
    assert update["incidentId"] == alert
    assert (update["detections"], update["lastSeen"]) == (4, iso(T0 + 3))
    assert update["bestFace"]["boundingBox"]["width"] == 0.2
    assert update["updatedAt"] == iso(world.now)
    [item] = world.incidents()
    # the throttle rides on the incident the commit wrote anyway; the face in the alert's shape
    assert json.loads(item["incident"])["update_published_at"] == world.now
    assert json.loads(item["bestFace"])["confidence"] == 99.9


def test_no_update_for_an_incident_that_has_not_alerted(world: World) -> None:
    world.settings = {"MIN_DETECTIONS": "3"}
    world.deliver(world.batch([T0]))
    world.deliver(world.batch([T0 + 1]))
    assert world.events() == []  # it grew, but it has no alert to update
    world.deliver(world.batch([T0 + 2]))
    assert [e["detail-type"] for e in world.events()] == ["Unknown Face Detected"]


def test_at_most_one_update_per_interval_on_the_injected_clock(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    published = []
    for second, at in enumerate((1.0, 5.0, 10.0, 11.0, 12.0, 30.0), start=2):
        world.now = T0 + 100 + at
        world.deliver(world.batch([T0 + second]))
        published += [(at, u["detections"]) for u in updates(world.events())]
    # 10 s apart at least (the SLACK_UPDATE_MIN_INTERVAL_SECONDS default), each the latest
    assert published == [(1.0, 3), (11.0, 6), (30.0, 8)]


def test_the_interval_is_the_slack_update_setting(world: World) -> None:
    world.settings = {"SLACK_UPDATE_MIN_INTERVAL_SECONDS": "0"}
    world.deliver(world.batch([T0, T0 + 1]))
    for second in (2, 3, 4):
        world.deliver(world.batch([T0 + second]))  # the same clock: 0 s apart
    assert [u["detections"] for u in updates(world.events())] == [3, 4, 5]


def test_no_update_before_its_alert_is_settled(world: World) -> None:
    session = world.session()
    failed = {"left": 3}  # the three sent marks of one invocation

    def fail_mark_sent(params: dict[str, Any], **_: Any) -> None:
        writes = [params, *(i.get("Update", {}) for i in params.get("TransactItems", []))]
        if failed["left"] and any(
            "alertState = :s" in str(w.get("UpdateExpression", "")) for w in writes
        ):
            failed["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "Mark")

    session.events.register("before-parameter-build.dynamodb.*", fail_mark_sent)
    world.deliver(world.batch([T0, T0 + 1]), session)  # published, not marked sent
    world.now += 30
    world.deliver(world.batch([T0 + 2]))  # its claim still runs: no update, no second alert
    assert [e["detail-type"] for e in world.events()] == ["Unknown Face Detected"]


def test_updates_share_the_alerts_put_events_calls(world: World) -> None:
    session = world.session()
    calls: list[list[str]] = []
    session.events.register(
        "before-parameter-build.events.PutEvents",
        lambda params, **_: calls.append([e["DetailType"] for e in params["Entries"]]),
    )
    world.deliver(world.batch([T0, T0 + 1]), session)
    world.now += 1
    # the first visit grows while ten new visitors alert: 11 events, ceil(11 / 10) calls
    fresh = [T0 + 200 * visit + t for visit in range(1, 11) for t in (0, 1)]
    assert world.deliver(world.batch([T0 + 2, *fresh]), session) == 1
    assert [len(c) for c in calls] == [1, 10, 1]
    assert calls[2] == ["Incident Updated"]  # alerts first: an update never delays one
    events = world.events()
    assert len(alerts(events)) == 11 and len(updates(events)) == 1


def test_a_batch_without_unknown_faces_makes_no_aws_call(world: World) -> None:
    world.deliver(world.batch([T0, T0 + 1]))
    world.events()
    session = world.session()
    calls: list[str] = []
    session.events.register("before-call", lambda event_name, **_: calls.append(event_name))
    employee = FaceSpec(employee_id="EMP-10442", similarity=97.0)
    world.now += 30
    world.deliver(world.batch([T0 + 2, T0 + 3], faces=[employee]), session)
    assert calls == []
    assert world.events() == []
