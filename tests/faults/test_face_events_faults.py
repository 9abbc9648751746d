"""Faults injected into face_events' dependencies (botocore event hooks on moto clients), with
Lambda's redelivery simulated: a shard is re-sent from the lowest failed record until it
succeeds. Invariants for every fault: no alert lost, no alert twice, counts reconcile."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.clips.hls import KvsClipProvider
from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.detections.rejects import SqsRejectSink
from facewatch.detections.store import DynamoIncidentStore
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from tests.aws import REGION, capture_bus, create_table_from_template, drain
from tests.fakes import FakeMetrics

pytestmark = pytest.mark.integration
TABLE, BUS = "facewatch-faults", "facewatch-faults"
CAMERAS = ("lobby-01", "dock-01", "gate-01")


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


@dataclass
class Fault:
    """Fail the first `times` calls of `event_name` (a botocore event, e.g. before-call.x.Op)."""

    event_name: str
    make_error: Callable[[], Exception]
    times: int
    seen: int = 0

    def __call__(self, **_: Any) -> None:
        self.seen += 1
        if self.seen <= self.times:
            raise self.make_error()


@dataclass
class Harness:
    capture: str
    arns: dict[str, str]
    metrics: list[FakeMetrics] = field(default_factory=list)
    deliveries: int = 0

    def adapters(self, session: boto3.Session) -> Adapters:
        sqs = session.client("sqs")
        queue = sqs.get_queue_url(QueueName="rejects")["QueueUrl"]
        metrics = FakeMetrics()
        self.metrics.append(metrics)
        return Adapters(
            store=DynamoIncidentStore(
                session.client("dynamodb"), TABLE, 400, clock=lambda: 1795000100.0
            ),
            publisher=EventBridgePublisher(session.client("events"), BUS, sleep=lambda _: None),
            clips=KvsClipProvider(
                session.client("kinesisvideo"),
                lambda url: session.client("kinesis-video-archived-media", endpoint_url=url),
            ),
            rejects=SqsRejectSink(sqs, queue),
            clock=lambda: 1795000100.0,
            metrics=metrics,
        )

    def deliver(self, event: dict[str, Any], session: boto3.Session, max_attempts: int = 6) -> None:
        """Lambda's ESM: retry from the lowest failed sequence number of the shard."""
        settings = FaceEventsSettings.model_validate(
            {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "REJECTED_QUEUE_URL": "rejects"}
            | {"ALERT_HLS_URL": "true"}  # the faults include the optional HLS URL's
        )
        records = event["Records"]
        for _ in range(max_attempts):
            self.deliveries += 1
            processor = BatchProcessor(
                EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
            )
            response = run_batch(
                {"Records": records}, None, settings, self.adapters(session), processor
            )
            failed = [str(f["itemIdentifier"]) for f in response["batchItemFailures"]]
            if not failed:
                return
            lowest = min(failed, key=int)
            records = [r for r in records if int(r["kinesis"]["sequenceNumber"]) >= int(lowest)]
        raise AssertionError("still failing after all attempts: the ESM would send it to OnFailure")

    def alerts(self) -> list[str]:
        return [e["detail"]["incidentId"] for e in drain(self.capture)]

    def reconciles(self) -> bool:
        return all(
            m.values["RecordsIn"] == m.values["RecordsProcessed"] + m.values["RecordsRejected"]
            for m in self.metrics
            if "RecordsIn" in m.values  # batches only (the sweeper reads no records)
        )


@pytest.fixture
def world() -> Iterator[tuple[Harness, boto3.Session]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        create_table_from_template(TABLE)
        capture = capture_bus(BUS, "Unknown Face Detected")
        session.client("sqs").create_queue(QueueName="rejects")
        kvs = session.client("kinesisvideo")
        arns = {
            c: kvs.create_stream(StreamName=c, DataRetentionInHours=24)["StreamARN"]
            for c in CAMERAS
        }
        yield Harness(capture, arns), session


def visits(harness: Harness, start: float = 1795000000.0) -> dict[str, Any]:
    """Three cameras, one visitor each for 4 frames: three incidents, three alerts."""
    records = [
        frame_record(camera, start + second, [FaceSpec()], arn=harness.arns[camera])
        for second in range(4)
        for camera in CAMERAS
    ]
    return kinesis_event(records)


def run_with(
    world: tuple[Harness, boto3.Session], *faults: Fault, event: dict[str, Any] | None = None
) -> Harness:
    harness, session = world
    for fault in faults:
        session.events.register(fault.event_name, fault)
    harness.deliver(event or visits(harness), session)
    return harness


def assert_exactly_once(harness: Harness, expected: int = 3) -> list[str]:
    alerts = harness.alerts()
    assert len(alerts) == expected, alerts
    assert len(set(alerts)) == expected
    assert harness.reconciles()
    return alerts


def test_kinesis_redelivers_a_whole_batch(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    harness, session = world
    event = visits(harness)
    harness.deliver(event, session)
    harness.deliver(event, session)  # e.g. the invocation timed out after its work was done
    assert_exactly_once(harness)
    record_outcome(
        "Kinesis", "whole batch redelivered", "3 alerts, 0 duplicates (watermarks skip it)"
    )


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        (
            "TransactWriteItems",
            lambda: client_error("ProvisionedThroughputExceededException", "TransactWriteItems"),
        ),
        ("GetItem", lambda: client_error("ThrottlingException", "GetItem")),
        ("TransactWriteItems", lambda: ReadTimeoutError(endpoint_url="https://dynamodb")),
    ],
    ids=["write-throttled", "read-throttled", "write-timeout"],
)
def test_dynamodb_faults_are_redelivered(
    world: tuple[Harness, boto3.Session],
    record_outcome: Any,
    operation: str,
    error: Callable[[], Exception],
) -> None:
    fault = Fault(f"before-call.dynamodb.{operation}", error, times=2)
    harness = run_with(world, fault)
    assert_exactly_once(harness)
    assert harness.deliveries > 1
    sample = error()
    name = (
        sample.response["Error"]["Code"]
        if isinstance(sample, ClientError)
        else type(sample).__name__
    )
    record_outcome(
        "DynamoDB",
        f"{operation} {name} x2",
        f"redelivered ({harness.deliveries} deliveries), 3 alerts once",
    )


def test_dynamodb_conditional_check_race(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    harness, session = world
    competitor = visits(harness, start=1795000002.5)  # the same visits, seen on another shard
    for record in competitor["Records"]:
        record["eventID"] = "shardId-000000000009:" + record["kinesis"]["sequenceNumber"]
    state = {"raced": False}

    def race(**_: Any) -> None:
        if not state["raced"]:
            state["raced"] = True
            harness.deliver(competitor, session)  # commits first; ours hits the version check

    session.events.register("before-call.dynamodb.TransactWriteItems", race)
    harness.deliver(visits(harness), session)
    assert_exactly_once(harness)
    record_outcome(
        "DynamoDB",
        "conditional-check race (2 shards, same cameras)",
        "regrouped: 3 incidents, 3 alerts once",
    )


def test_eventbridge_partial_failure(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    calls = {"n": 0}

    def misroute_first_entry(params: dict[str, Any], **_: Any) -> None:
        # The first call's first entry goes to a bus that does not exist: EventBridge reports
        # that entry failed and accepts the others (a real partial failure, not a rewrite).
        calls["n"] += 1
        if calls["n"] == 1:
            params["Entries"][0]["EventBusName"] = "no-such-bus"

    _, session = world
    session.events.register("before-parameter-build.events.PutEvents", misroute_first_entry)
    harness = run_with(world)
    assert calls["n"] == 2
    assert_exactly_once(harness)
    record_outcome(
        "EventBridge", "PutEvents partial failure (1 of 3)", "failed entry resent; 3 alerts once"
    )


def test_eventbridge_throttled_beyond_retries(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    fault = Fault(
        "before-call.events.PutEvents",
        lambda: client_error("ThrottlingException", "PutEvents"),
        times=5,
    )
    harness = run_with(world, fault)
    assert_exactly_once(harness)
    record_outcome(
        "EventBridge",
        "PutEvents throttled 5 times",
        f"records redelivered ({harness.deliveries} deliveries); pending alerts published once",
    )


@pytest.mark.parametrize(
    ("event_name", "code"),
    [
        ("before-call.kinesis-video.GetDataEndpoint", "ClientLimitExceededException"),
        (
            "before-call.kinesis-video-archived-media.GetHLSStreamingSessionURL",
            "NoDataRetentionException",
        ),
    ],
    ids=["GetDataEndpoint", "GetHLSStreamingSessionURL"],
)
def test_kvs_errors_send_the_alert_without_clip(
    world: tuple[Harness, boto3.Session], record_outcome: Any, event_name: str, code: str
) -> None:
    fault = Fault(event_name, lambda: client_error(code, event_name.rsplit(".", 1)[1]), times=100)
    harness = run_with(world, fault)
    events = drain(harness.capture)
    assert len(events) == 3
    assert all(e["detail"]["clip"] is None for e in events)
    assert all(e["detail"]["clipUnavailableReason"] == code for e in events)
    assert sum(m.values["ClipEnrichmentFailures"] for m in harness.metrics) == 3
    record_outcome(
        "KVS",
        f"{event_name.rsplit('.', 1)[1]} {code}",
        "3 alerts sent without clip; ClipEnrichmentFailures=3",
    )


def test_rejected_records_queue_unavailable(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    harness, session = world
    event = visits(harness)
    event["Records"][1]["kinesis"]["data"] = "bm90IGpzb24="  # "not json"
    fault = Fault(
        "before-call.sqs.SendMessageBatch",
        lambda: client_error("KMS.KMSThrottlingException", "SendMessageBatch"),
        times=1,
    )
    session.events.register(fault.event_name, fault)
    harness.deliver(event, session)
    assert_exactly_once(harness)
    kept = session.client("sqs").receive_message(
        QueueUrl=session.client("sqs").get_queue_url(QueueName="rejects")["QueueUrl"],
        MaxNumberOfMessages=10,
    )["Messages"]
    assert [json.loads(m["Body"])["reason"] for m in kept] == [
        "invalid record: (record): json_invalid"
    ]
    record_outcome(
        "SQS (rejected records)",
        "SendMessageBatch fails once",
        "malformed record redelivered, then kept with its reason",
    )


def test_producer_retry_duplicates_every_record(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    harness, session = world
    event = visits(harness)
    twice = kinesis_event([])
    for index, record in enumerate(event["Records"] * 2):  # same frames, new sequence numbers
        twice["Records"].append(
            {**record, "kinesis": {**record["kinesis"], "sequenceNumber": str(10**30 + index)}}
        )
    harness.deliver(twice, session)
    assert_exactly_once(harness)
    record_outcome(
        "Kinesis", "producer retry: every frame written twice", "frames count once; 3 alerts once"
    )


def test_eventbridge_down_past_every_retry_then_the_sweeper(
    world: tuple[Harness, boto3.Session], record_outcome: Any
) -> None:
    from facewatch.detections.pipeline import SWEEP_AFTER_SECONDS, sweep_pending_alerts  # noqa: PLC0415

    harness, session = world
    down = Fault(
        "before-call.events.PutEvents",
        lambda: client_error("InternalFailure", "PutEvents"),
        times=10**6,
    )
    session.events.register(down.event_name, down)
    with pytest.raises(AssertionError, match="OnFailure"):
        harness.deliver(visits(harness), session, max_attempts=3)  # the ESM gives up
    session.events.unregister(down.event_name, down)
    settings = FaceEventsSettings.model_validate(
        {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "REJECTED_QUEUE_URL": "rejects"}
    )
    adapters = harness.adapters(session)
    adapters.clock = lambda: 1795000100.0 + SWEEP_AFTER_SECONDS + 60
    adapters.store = DynamoIncidentStore(
        session.client("dynamodb"), TABLE, 400, clock=adapters.clock
    )
    assert sweep_pending_alerts(settings, adapters) == 3
    assert sweep_pending_alerts(settings, adapters) == 0  # the sparse index is empty again
    assert_exactly_once(harness)
    record_outcome(
        "EventBridge",
        "down past every retry (records to OnFailure)",
        "alerts stay pending; the sweeper publishes them once",
    )
