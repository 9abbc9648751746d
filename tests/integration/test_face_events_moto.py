"""The real face_events handler against moto: DynamoDB, EventBridge (captured by SQS), KVS, SQS."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from moto import mock_aws

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.clips.hls import KvsClipProvider
from facewatch.detections.pipeline import Adapters
from facewatch.detections.rejects import SqsRejectSink
from facewatch.detections.store import DynamoIncidentStore
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from tests.aws import REGION, capture_bus, create_table_from_template, drain
from tests.conftest import FACE_EVENTS_ENV, load_event

pytestmark = pytest.mark.integration
CAMERA = "seoul-hq-lobby-01"


class Context(LambdaContext):
    def __init__(self) -> None:
        self._function_name = "facewatch-test-face-events"
        self._memory_limit_in_mb = 512
        self._invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:fe"
        self._aws_request_id = "req-1"


@pytest.fixture
def aws(face_events_app: ModuleType) -> Iterator[dict[str, Any]]:
    with mock_aws():
        create_table_from_template(FACE_EVENTS_ENV["TABLE_NAME"])
        capture = capture_bus(FACE_EVENTS_ENV["EVENT_BUS_NAME"], "Unknown Face Detected")
        sqs = boto3.client("sqs", region_name=REGION)
        rejected = sqs.create_queue(QueueName="facewatch-test-rejected-records")["QueueUrl"]
        kvs = boto3.client("kinesisvideo", region_name=REGION)
        arn = kvs.create_stream(StreamName=CAMERA, DataRetentionInHours=24)["StreamARN"]
        face_events_app.settings = face_events_app.settings.model_copy(  # type: ignore[attr-defined]
            update={"rejected_queue_url": rejected}
        )
        face_events_app.default_adapters.cache_clear()
        yield {"capture": capture, "rejected": rejected, "stream_arn": arn, "app": face_events_app}
        face_events_app.default_adapters.cache_clear()


def invoke(app: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return dict(app.lambda_handler(event, Context()))


def stranger_frames(stream_arn: str, times: list[float]) -> dict[str, Any]:
    return kinesis_event([frame_record(CAMERA, t, [FaceSpec()], arn=stream_arn) for t in times])


def test_unknown_face_becomes_one_alert_with_a_clip(aws: dict[str, Any]) -> None:
    response = invoke(aws["app"], stranger_frames(aws["stream_arn"], [1795000000.0, 1795000001.0]))
    assert response == {"batchItemFailures": []}
    [event] = drain(aws["capture"])
    assert event["source"] == "facewatch"
    detail = event["detail"]
    assert detail["detections"] == 2
    assert detail["streamArn"] == aws["stream_arn"]
    assert detail["clip"]["url"].startswith("https://")
    assert detail["clip"]["start"].startswith("2026-11-18T11:06:35")  # 5 s pre-roll

    table = boto3.client("dynamodb", region_name=REGION)
    item = table.get_item(
        TableName=FACE_EVENTS_ENV["TABLE_NAME"],
        Key={"PK": {"S": f"INCIDENT#{detail['incidentId']}"}, "SK": {"S": "INCIDENT"}},
    )["Item"]
    assert item["alertState"]["S"] == "sent"
    assert item["streamArn"]["S"] == aws["stream_arn"]
    assert item["GSI1PK"]["S"] == f"CAMERA#{CAMERA}"
    trail = table.query(
        TableName=FACE_EVENTS_ENV["TABLE_NAME"],
        KeyConditionExpression="PK = :p AND begins_with(SK, :e)",
        ExpressionAttributeValues={
            ":p": {"S": f"INCIDENT#{detail['incidentId']}"},
            ":e": {"S": "EVENT#"},
        },
    )["Items"]
    assert sorted(i["kind"]["S"] for i in trail) == ["alerted", "opened"]


def test_retried_batch_publishes_no_second_alert(aws: dict[str, Any]) -> None:
    event = stranger_frames(aws["stream_arn"], [1795000000.0, 1795000001.0, 1795000002.0])
    invoke(aws["app"], event)
    invoke(aws["app"], event)
    assert len(drain(aws["capture"])) == 1


def test_the_sample_events_behave(aws: dict[str, Any]) -> None:
    for name in ("kds_employees_only.json", "kds_no_faces.json"):
        assert invoke(aws["app"], load_event(name)) == {"batchItemFailures": []}
    assert drain(aws["capture"]) == []
    assert invoke(aws["app"], load_event("kds_malformed.json")) == {"batchItemFailures": []}
    sqs = boto3.client("sqs", region_name=REGION)
    kept = sqs.receive_message(QueueUrl=aws["rejected"], MaxNumberOfMessages=10)["Messages"]
    assert len(kept) == 4


def test_clip_failure_alerts_without_clip(aws: dict[str, Any]) -> None:
    unknown_stream = aws["stream_arn"].replace(CAMERA, "camera-without-kvs")
    frames = [
        frame_record("camera-without-kvs", t, [FaceSpec()], arn=unknown_stream) for t in (1.0, 2.0)
    ]
    invoke(aws["app"], kinesis_event(frames))
    [event] = drain(aws["capture"])
    assert event["detail"]["clip"] is None
    assert event["detail"]["clipUnavailableReason"] == "ResourceNotFoundException"


def _adapters(client_hooks: dict[str, Any], rejected: str) -> Adapters:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    for event_name, hook in client_hooks.items():
        (dynamodb if "dynamodb" in event_name else events).meta.events.register(event_name, hook)
    return Adapters(
        store=DynamoIncidentStore(dynamodb, FACE_EVENTS_ENV["TABLE_NAME"], 400),
        publisher=EventBridgePublisher(
            events, FACE_EVENTS_ENV["EVENT_BUS_NAME"], sleep=lambda _: None
        ),
        clips=KvsClipProvider(
            boto3.client("kinesisvideo", region_name=REGION),
            lambda url: boto3.client(
                "kinesis-video-archived-media", region_name=REGION, endpoint_url=url
            ),
        ),
        rejects=SqsRejectSink(boto3.client("sqs", region_name=REGION), rejected),
    )


def test_dynamodb_throttling_is_redelivered_and_nothing_is_lost(aws: dict[str, Any]) -> None:
    throttled = {"left": 1}

    def throttle(**_: Any) -> None:
        if throttled["left"]:
            throttled["left"] -= 1
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "slow down",
                    }
                },
                "TransactWriteItems",
            )

    adapters = _adapters({"before-call.dynamodb.TransactWriteItems": throttle}, aws["rejected"])
    event = stranger_frames(aws["stream_arn"], [1795000000.0, 1795000001.0])
    first = aws["app"].lambda_handler(event, Context(), adapters=adapters)
    assert len(first["batchItemFailures"]) == 2
    assert drain(aws["capture"]) == []
    second = aws["app"].lambda_handler(event, Context(), adapters=adapters)
    assert second == {"batchItemFailures": []}
    assert len(drain(aws["capture"])) == 1


def test_eventbridge_partial_failure_resends_only_failed_entries(aws: dict[str, Any]) -> None:
    calls: list[int] = []

    def fail_first_entry(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(len(parsed.get("Entries", [])))
        if len(calls) == 1:
            parsed["FailedEntryCount"] = 1
            parsed["Entries"][0] = {
                "ErrorCode": "ThrottlingException",
                "ErrorMessage": "Rate exceeded",
            }

    adapters = _adapters({"after-call.events.PutEvents": fail_first_entry}, aws["rejected"])
    records = []
    for index in range(12):  # 12 cameras -> 12 alerts -> chunks of 10 and 2
        camera = f"cam-{index:02d}"
        arn = aws["stream_arn"].replace(CAMERA, camera)
        records += [frame_record(camera, t, [FaceSpec()], arn=arn) for t in (1.0, 2.0)]
    response = aws["app"].lambda_handler(kinesis_event(records), Context(), adapters=adapters)
    assert response == {"batchItemFailures": []}
    assert calls == [10, 1, 2]
    # moto delivered the 9 good entries of the first call, then the resent one, then 2
    assert len({e["detail"]["incidentId"] for e in drain(aws["capture"])}) == 12


def test_alert_carries_the_registry_location(aws: dict[str, Any]) -> None:
    from facewatch.fleet.inventory import load_inventory  # noqa: PLC0415
    from facewatch.fleet.registry import camera_item  # noqa: PLC0415
    from facewatch_tools.template import ROOT  # noqa: PLC0415

    inventory = load_inventory(ROOT / "cameras.yaml")
    camera = next(c for c in inventory.cameras if c.id == CAMERA)
    table = boto3.resource("dynamodb", region_name=REGION).Table(FACE_EVENTS_ENV["TABLE_NAME"])
    table.put_item(Item=camera_item(camera, inventory.site(camera.site), "proc-1"))
    invoke(aws["app"], stranger_frames(aws["stream_arn"], [1795000000.0, 1795000001.0]))
    [event] = drain(aws["capture"])
    assert event["detail"]["location"] == {
        "siteId": "seoul-hq",
        "siteName": "Seoul HQ",
        "zone": "Lobby",
        "displayName": "Lobby entrance",
        "timeZone": "Asia/Seoul",
        "slackRoute": "seoul",
        "severity": "high",  # the camera's severity routes the alert (SMS for high)
    }
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=FACE_EVENTS_ENV["TABLE_NAME"],
        Key={"PK": {"S": f"INCIDENT#{event['detail']['incidentId']}"}, "SK": {"S": "INCIDENT"}},
    )["Item"]
    assert item["GSI2PK"]["S"] == "SITE#seoul-hq"


def test_alert_sweeper_handler_runs_on_its_sample_event(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import load_function  # noqa: PLC0415

    sweeper = load_function("alert_sweeper", FACE_EVENTS_ENV, monkeypatch)
    assert sweeper.lambda_handler(load_event("alert_sweeper.json"), Context()) == {"published": 0}
