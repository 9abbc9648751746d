"""Watchdog adapters: KVS on moto (+ Stubber for ListFragments, which moto lacks), the health
store on a moto table, EventBridge on moto (delivered to SQS), and the handlers end to end."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.fleet.health import DETAIL_TYPE, CameraHealthChanged, RecognitionState, VideoState
from facewatch.fleet.inventory import Detector, load_inventory
from facewatch.fleet.processors import StreamProcessors
from facewatch.fleet.registry import CameraInfo, Registry, RegistryReader
from facewatch.fleet.watchdog import (
    DynamoHealthStore,
    EventBridgeHealthPublisher,
    KvsFragmentProbe,
    Observation,
    Policy,
    StreamMissingError,
    Watchdog,
    WatchdogSettings,
    decide,
)

from .conftest import REGION, ROOT, TABLE
from .fakes import FakeFragments, FakeProcessors, FakePublisher, FakeStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BUS = "facewatch-test"


def load_function(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"fn_{name}", ROOT / "functions" / name / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def media() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "kinesis-video-archived-media",
        region_name=REGION,
        endpoint_url="https://b-1.kinesisvideo.us-east-1.amazonaws.com",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def fragments_request(stream: str, since: datetime, until: datetime) -> dict[str, Any]:
    return {
        "StreamName": stream,
        "MaxResults": 100,
        "FragmentSelector": {
            "FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": since, "EndTimestamp": until},
        },
    }


def fragment(at: datetime) -> dict[str, Any]:
    return {
        "FragmentNumber": "91343852333181432392682062607743920146264440923",
        "FragmentSizeInBytes": 120000,
        "ProducerTimestamp": at,
        "ServerTimestamp": at,
        "FragmentLengthInMilliseconds": 2000,
    }


def test_fragment_probe_uses_the_streams_endpoint(aws: None, media: tuple[Any, Stubber]) -> None:
    kvs = boto3.client("kinesisvideo", region_name=REGION)
    kvs.create_stream(StreamName="lobby", DataRetentionInHours=72)
    endpoints: list[str] = []

    def client_for(endpoint: str) -> Any:
        endpoints.append(endpoint)
        return media[0]

    probe = KvsFragmentProbe(kvs, client_for)
    since, until = T0 - timedelta(minutes=15), T0
    split = until - timedelta(minutes=1)
    # online: the last minute has fragments, and the newest of them is exact
    recent = [fragment(T0 - timedelta(seconds=8)), fragment(T0 - timedelta(seconds=2))]
    media[1].add_response(
        "list_fragments", {"Fragments": recent}, fragments_request("lobby", split, until)
    )
    assert probe.latest_fragment("lobby", since, until) == T0 - timedelta(seconds=2)
    # quiet for a while: the rest of the window still finds one
    media[1].add_response(
        "list_fragments", {"Fragments": []}, fragments_request("lobby", split, until)
    )
    media[1].add_response(
        "list_fragments",
        {"Fragments": [fragment(T0 - timedelta(minutes=9))]},
        fragments_request("lobby", since, split),
    )
    assert probe.latest_fragment("lobby", since, until) == T0 - timedelta(minutes=9)
    # offline: nothing anywhere
    media[1].add_response(
        "list_fragments", {"Fragments": []}, fragments_request("lobby", split, until)
    )
    media[1].add_response(
        "list_fragments", {"Fragments": []}, fragments_request("lobby", since, split)
    )
    assert probe.latest_fragment("lobby", since, until) is None
    assert endpoints[0].startswith("https://b-") and len(set(endpoints)) == 1
    with pytest.raises(StreamMissingError):
        probe.latest_fragment("nope", since, until)


def test_health_store_round_trip_and_history(table: Any) -> None:
    store = DynamoHealthStore(boto3.resource("dynamodb", region_name=REGION), TABLE)
    record = decide(
        "lobby", Observation(now=T0, schedule_active=True, last_fragment_at=T0), None, Policy()
    ).record
    store.save(record, changed=True)
    store.save(record.model_copy(update={"checked_at": T0 + timedelta(minutes=1)}), changed=False)
    loaded = store.load(["lobby", "unknown"])
    assert loaded["lobby"].health == record.health and "unknown" not in loaded
    keys = sorted(i["SK"] for i in table.scan()["Items"])
    assert keys == ["HEALTH", "HEALTH#2026-11-25T09:00:00.000Z"]


def bus_with_queue() -> tuple[Any, str]:
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="health")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="health",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["facewatch"], "detail-type": [DETAIL_TYPE]}),
    )
    events.put_targets(Rule="health", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    return sqs, url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_publisher_chunks_and_resends_only_failed_entries(aws: None) -> None:
    client = boto3.client("events", region_name=REGION)
    event = CameraHealthChanged.model_validate_json(
        (ROOT / "tests/fleet/data/health_event.json").read_text()
    )
    with Stubber(client) as stub:
        entries = [event.put_events_entry(BUS)] * 10
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": f"e{i}"} for i in range(9)]
                + [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
            {"Entries": entries},
        )
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e9"}]},
            {"Entries": entries[:1]},
        )
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
            {"Entries": entries[:1]},
        )
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
            {"Entries": entries[:1]},
        )
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
            {"Entries": entries[:1]},
        )
        flags = EventBridgeHealthPublisher(client, BUS).publish([event] * 11)
    assert flags == [True] * 10 + [False]


def camera(cam: str, processor: str | None) -> CameraInfo:
    return CameraInfo(
        camera_id=cam,
        site_id="seoul-hq",
        site_name="Seoul HQ",
        zone="Lobby",
        display_name="Lobby entrance",
        time_zone="Asia/Seoul",
        detector=Detector.STREAM_PROCESSOR if processor else Detector.SAMPLER,
        processor_name=processor,
    )


def test_watchdog_handler_restarts_publishes_and_stores(
    table: Any, media: tuple[Any, Stubber], tmp_path: Any
) -> None:
    """One tick over moto (table, KVS, bus -> SQS) with Stubber for ListFragments/Rekognition."""
    sqs, url = bus_with_queue()
    kvs = boto3.client("kinesisvideo", region_name=REGION)
    kvs.create_stream(StreamName="lobby", DataRetentionInHours=72)
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    registry = Registry(table)
    inv = tmp_path / "cameras.yaml"
    inv.write_text(
        "sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}]\n"
        "cameras: [{id: lobby, site: seoul-hq, zone: Lobby, display_name: Lobby,"
        " detector: stream-processor}]\n"
    )
    registry.apply(registry.plan(load_inventory(inv), {"lobby": "facewatch-test-lobby-1"}, False))

    rek = boto3.client("rekognition", region_name=REGION)
    with Stubber(rek) as rek_stub:
        rek_stub.add_response(
            "describe_stream_processor",
            {
                "Name": "facewatch-test-lobby-1",
                "Status": "FAILED",
                "StatusMessage": "Access denied to Role",
            },
            {"Name": "facewatch-test-lobby-1"},
        )
        rek_stub.add_response(
            "start_stream_processor", {"SessionId": "s"}, {"Name": "facewatch-test-lobby-1"}
        )
        media[1].add_response(
            "list_fragments",
            {"Fragments": [fragment(T0)]},
            fragments_request("lobby", T0 - timedelta(minutes=1), T0),
        )
        watchdog = Watchdog(
            fragments=KvsFragmentProbe(kvs, lambda _endpoint: media[0]),
            processors=StreamProcessors(rek),
            store=DynamoHealthStore(dynamodb, TABLE),
            publisher=EventBridgeHealthPublisher(boto3.client("events", region_name=REGION), BUS),
            workers=1,
        )
        app = load_function("watchdog")
        summary = app.handle(watchdog, RegistryReader(table), T0)
        rek_stub.assert_no_pending_responses()
    assert summary["changes"] == 1 and summary["actions"] == {"START": 1}
    (message,) = received(sqs, url)
    assert message["detail-type"] == DETAIL_TYPE and message["source"] == "facewatch"
    detail = CameraHealthChanged.model_validate(message["detail"])
    assert detail.current.recognition is RecognitionState.RESTARTING
    assert detail.current.video is VideoState.ONLINE and detail.site_name == "Seoul HQ"
    health = table.get_item(Key={"PK": "CAMERA#lobby", "SK": "HEALTH"})["Item"]
    assert health["restart_attempts"] == 1


def test_watchdog_lambda_handler_wires_settings(table: Any, monkeypatch: Any) -> None:
    bus_with_queue()
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("CAMERA_OFFLINE_MINUTES", "10")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Facewatch")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    app = load_function("watchdog")
    assert WatchdogSettings.from_env(
        {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "CAMERA_OFFLINE_MINUTES": "10"}
    ).policy.offline_after == (timedelta(minutes=10))
    event = json.loads((ROOT / "events/watchdog.json").read_text())
    result = app.lambda_handler(event, LambdaContext())
    assert result["cameras"] == 0


class LambdaContext:
    function_name = "facewatch-test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:facewatch-test"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def test_processor_control_handler_answers_cloudformation(aws: None, monkeypatch: Any) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    app = load_function("processor_control")
    rek = boto3.client("rekognition", region_name=REGION)
    monkeypatch.setattr(app, "processors", lambda: StreamProcessors(rek))
    sent: list[Any] = []
    monkeypatch.setattr(app, "send_response", lambda req, outcome: sent.append(outcome))
    event = json.loads((ROOT / "events/processor_control_create.json").read_text())
    name = event["ResourceProperties"]["ProcessorName"]
    with Stubber(rek) as stub:
        stub.add_response("create_stream_processor", {"StreamProcessorArn": "arn:x:1"}, None)
        stub.add_response("start_stream_processor", {"SessionId": "s"}, {"Name": name})
        stub.add_response(
            "describe_stream_processor", {"Name": name, "Status": "STARTING"}, {"Name": name}
        )
        result = app.lambda_handler(event, LambdaContext())
    assert result["status"] == "SUCCESS" and sent[0].status == "SUCCESS"
    assert result["physical_id"] == name


def test_processor_replacement_publishes_that_the_camera_is_briefly_unwatched(
    table: Any, monkeypatch: Any
) -> None:
    sqs, url = bus_with_queue()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    app = load_function("processor_control")
    rek = boto3.client("rekognition", region_name=REGION)
    monkeypatch.setattr(app, "processors", lambda: StreamProcessors(rek, sleep=lambda _s: None))
    monkeypatch.setattr(app, "send_response", lambda req, outcome: None)
    event = json.loads((ROOT / "events/processor_control_update.json").read_text())
    new, old = (event["ResourceProperties"], event["OldResourceProperties"])
    with Stubber(rek) as stub:
        stub.add_response("stop_stream_processor", {}, {"Name": old["ProcessorName"]})
        stub.add_response(
            "describe_stream_processor",
            {"Name": old["ProcessorName"], "Status": "STOPPED"},
            {"Name": old["ProcessorName"]},
        )
        stub.add_response("delete_stream_processor", {}, {"Name": old["ProcessorName"]})
        stub.add_response("create_stream_processor", {"StreamProcessorArn": "arn:x:1"}, None)
        stub.add_response("start_stream_processor", {"SessionId": "s"}, None)
        stub.add_response(
            "describe_stream_processor", {"Name": new["ProcessorName"], "Status": "STARTING"}, None
        )
        result = app.lambda_handler(event, LambdaContext())
        stub.assert_no_pending_responses()
    assert result["status"] == "SUCCESS"
    first, second = (CameraHealthChanged.model_validate(m["detail"]) for m in received(sqs, url))
    assert first.camera_id == new["CameraId"]
    assert first.current.recognition is RecognitionState.RECREATING
    assert "unwatched" in first.current.reason
    assert second.previous == first.current
    assert second.current.recognition is RecognitionState.STARTING


def test_watchdog_handle_fails_the_invocation_when_changes_were_not_published() -> None:
    publisher = FakePublisher()
    publisher.reject = {"dock"}
    watchdog = Watchdog(
        fragments=FakeFragments(),
        processors=FakeProcessors(),
        store=FakeStore(),
        publisher=publisher,
        workers=1,
    )

    class Registry:
        def cameras(self) -> list[CameraInfo]:
            return [camera("dock", None)]

    with pytest.raises(RuntimeError, match="1 health change"):
        load_function("watchdog").handle(watchdog, Registry(), T0)
