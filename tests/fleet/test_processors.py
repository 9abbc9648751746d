"""Stream processor adapter and Custom::StreamProcessor against a Stubber-checked client."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.fleet.processors import (
    ControlOutcome,
    CustomResourceRequest,
    ProcessorGoneError,
    StreamProcessors,
    control_processor,
    send_response,
)

from .conftest import REGION

NAME = "facewatch-dev-lobby-abc123"
ARN = f"arn:aws:rekognition:{REGION}:123456789012:streamprocessor/{NAME}"
SPEC: dict[str, Any] = {
    "Input": {
        "KinesisVideoStream": {
            "Arn": f"arn:aws:kinesisvideo:{REGION}:123456789012:stream/lobby/1700000000000"
        }
    },
    "Output": {
        "KinesisDataStream": {
            "Arn": f"arn:aws:kinesis:{REGION}:123456789012:stream/facewatch-dev-det-lobby"
        }
    },
    "RoleArn": "arn:aws:iam::123456789012:role/facewatch-dev/lobby-role",
    "Settings": {"FaceSearch": {"CollectionId": "facewatch-employees", "FaceMatchThreshold": 80.0}},
    "DataSharingPreference": {"OptIn": False},
}


class Sleeps:
    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, seconds: float) -> None:
        self.total += seconds

    def clock(self) -> float:
        return self.total


@pytest.fixture
def rek() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "rekognition", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def describe(stub: Stubber, status: str | None, **extra: Any) -> None:
    if status is None:
        stub.add_client_error(
            "describe_stream_processor", "ResourceNotFoundException", expected_params={"Name": NAME}
        )
    else:
        stub.add_response(
            "describe_stream_processor",
            {"Name": NAME, "StreamProcessorArn": ARN, "Status": status, **extra},
            {"Name": NAME},
        )


def make(client: Any, sleeps: Sleeps) -> StreamProcessors:
    return StreamProcessors(client, sleep=sleeps, clock=sleeps.clock)


def test_describe_start_stop_tolerate_races(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    processors = make(client, Sleeps())
    describe(stub, "FAILED", StatusMessage="Collection not found")
    view = processors.describe(NAME)
    assert (view.status, view.status_message) == ("FAILED", "Collection not found")
    describe(stub, None)
    assert processors.describe(NAME).status is None
    stub.add_client_error(
        "start_stream_processor", "ResourceInUseException", expected_params={"Name": NAME}
    )
    processors.start(NAME)  # already starting: fine
    stub.add_client_error(
        "stop_stream_processor", "ResourceNotFoundException", expected_params={"Name": NAME}
    )
    processors.stop(NAME)


def test_recreate_keeps_settings_and_tags_and_waits_for_the_name(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    sleeps = Sleeps()
    describe(stub, "STARTING", **SPEC)
    stub.add_response(
        "list_tags_for_resource", {"Tags": {"facewatch:camera": "lobby"}}, {"ResourceArn": ARN}
    )
    stub.add_response("stop_stream_processor", {}, {"Name": NAME})
    describe(stub, "STOPPED")
    stub.add_response("delete_stream_processor", {}, {"Name": NAME})
    create_params = {"Name": NAME, **SPEC, "Tags": {"facewatch:camera": "lobby"}}
    stub.add_client_error(
        "create_stream_processor", "ResourceInUseException", expected_params=create_params
    )
    stub.add_response("create_stream_processor", {"StreamProcessorArn": ARN}, create_params)
    stub.add_response("start_stream_processor", {"SessionId": "s"}, {"Name": NAME})
    make(client, sleeps).recreate(NAME)
    assert sleeps.total == 5.0  # one wait for the name to be reusable


def test_recreate_of_a_missing_processor_says_so(rek: tuple[Any, Stubber]) -> None:
    describe(rek[1], None)
    with pytest.raises(ProcessorGoneError):
        make(rek[0], Sleeps()).recreate(NAME)


PROPS = {
    "ServiceToken": "arn:x",
    "ProcessorName": NAME,
    "CameraId": "lobby",
    "RoleArn": SPEC["RoleArn"],
    "VideoStreamArn": SPEC["Input"]["KinesisVideoStream"]["Arn"],
    "DataStreamArn": SPEC["Output"]["KinesisDataStream"]["Arn"],
    "CollectionId": "facewatch-employees",
    "FaceMatchThreshold": "80",  # CloudFormation sends every property as a string
    "Start": "true",
}
OLD = "facewatch-dev-lobby-old999"
TAGS = {"facewatch:camera": "lobby"}


def request(
    kind: str,
    start: str = "true",
    name: str = NAME,
    old: dict[str, Any] | None = None,
    physical: str | None = None,
) -> CustomResourceRequest:
    return CustomResourceRequest.model_validate(
        {
            "RequestType": kind,
            "ResponseURL": "https://cfn.example/response",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/cam/1",
            "RequestId": "r1",
            "LogicalResourceId": "StreamProcessor",
            "PhysicalResourceId": None if kind == "Create" else (physical or name),
            "ResourceProperties": {**PROPS, "ProcessorName": name, "Start": start},
            **({"OldResourceProperties": old} if old else {}),
        }
    )


class Notices:
    """Records the notices in ``calls``, where a botocore hook records the API calls too."""

    def __init__(self, calls: list[str] | None = None) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.calls = calls if calls is not None else []

    def unwatched(self, camera_id: str, reason: str) -> None:
        self.calls.append("notice: unwatched")
        self.sent.append(("unwatched", camera_id, reason))

    def restarted(self, camera_id: str, reason: str) -> None:
        self.calls.append("notice: restarted")
        self.sent.append(("restarted", camera_id, reason))


def record_calls(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register(
        "before-parameter-build.rekognition.*", lambda model, **_: calls.append(model.name)
    )
    return calls


def described(stub: Stubber, name: str, status: str | None) -> None:
    if status is None:
        stub.add_client_error(
            "describe_stream_processor", "ResourceNotFoundException", expected_params={"Name": name}
        )
    else:
        stub.add_response(
            "describe_stream_processor", {"Name": name, "Status": status}, {"Name": name}
        )


def test_create_creates_and_starts_the_processor(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    stub.add_response(
        "create_stream_processor", {"StreamProcessorArn": ARN}, {"Name": NAME, **SPEC, "Tags": TAGS}
    )
    stub.add_response("start_stream_processor", {"SessionId": "s"}, {"Name": NAME})
    describe(stub, "STARTING")
    outcome = control_processor(request("Create"), make(client, Sleeps()), wait_seconds=60)
    assert outcome.status == "SUCCESS" and outcome.data["Status"] == "STARTING"
    assert outcome.physical_id == NAME  # the processor name: a new name means a replacement


def test_create_refused_by_rekognition_fails_the_resource(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    stub.add_client_error(
        "create_stream_processor",
        "AccessDeniedException",
        "This feature is not available to new customers",
        expected_params={"Name": NAME, **SPEC, "Tags": TAGS},
    )
    outcome = control_processor(request("Create"), make(client, Sleeps()), wait_seconds=60)
    assert outcome.status == "FAILED" and "AccessDenied" in outcome.reason
    assert outcome.physical_id == NAME


def test_delete_stops_waits_then_deletes(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    sleeps = Sleeps()
    stub.add_response("stop_stream_processor", {}, {"Name": NAME})
    describe(stub, "STOPPING")
    describe(stub, "STOPPED")
    stub.add_response("delete_stream_processor", {}, {"Name": NAME})
    outcome = control_processor(request("Delete"), make(client, sleeps), wait_seconds=60)
    assert outcome.status == "SUCCESS" and outcome.physical_id == NAME
    assert sleeps.total == 2.0


def test_delete_of_a_processor_already_gone_succeeds(rek: tuple[Any, Stubber]) -> None:
    """The Delete CloudFormation sends for the old name after a replacement finds it gone."""
    client, stub = rek
    stub.add_client_error(
        "stop_stream_processor", "ResourceNotFoundException", expected_params={"Name": OLD}
    )
    described(stub, OLD, None)
    stub.add_client_error(
        "delete_stream_processor", "ResourceNotFoundException", expected_params={"Name": OLD}
    )
    outcome = control_processor(request("Delete", name=OLD), make(client, Sleeps()), 60)
    assert outcome.status == "SUCCESS"


def test_delete_that_cannot_stop_in_time_fails_loudly(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    stub.add_response("stop_stream_processor", {}, {"Name": NAME})
    for _ in range(5):  # polls at 0, 2, 6, 14 and 29 s (backoff 2, 4, 8, 15)
        describe(stub, "STOPPING")
    outcome = control_processor(request("Delete"), make(client, Sleeps()), wait_seconds=20)
    assert outcome.status == "FAILED" and "still STOPPING" in outcome.reason


def test_a_settings_change_deletes_the_old_processor_before_creating_the_new(
    rek: tuple[Any, Stubber],
) -> None:
    """Rekognition allows one processor per input and per output stream: new-before-old (what
    CloudFormation does with AWS::Rekognition::StreamProcessor) would be refused."""
    client, stub = rek
    sleeps = Sleeps()
    old = {**PROPS, "ProcessorName": OLD, "FaceMatchThreshold": "90"}
    stub.add_response("stop_stream_processor", {}, {"Name": OLD})
    described(stub, OLD, "STOPPING")
    described(stub, OLD, "STOPPED")
    stub.add_response("delete_stream_processor", {}, {"Name": OLD})
    create = {"Name": NAME, **SPEC, "Tags": TAGS}
    # the old one's input and output stay taken for a moment after the delete
    stub.add_client_error(
        "create_stream_processor",
        "ResourceInUseException",
        "Output stream is already in use",
        expected_params=create,
    )
    stub.add_response("create_stream_processor", {"StreamProcessorArn": ARN}, create)
    stub.add_response("start_stream_processor", {"SessionId": "s"}, {"Name": NAME})
    describe(stub, "STARTING")
    notices = Notices(record_calls(client))
    outcome = control_processor(
        request("Update", old=old, physical=OLD), make(client, sleeps), 60, notices
    )
    assert outcome.status == "SUCCESS" and outcome.physical_id == NAME
    assert notices.calls == [
        "notice: unwatched",  # told before the camera stops being watched
        "StopStreamProcessor",
        "DescribeStreamProcessor",
        "DescribeStreamProcessor",  # STOPPED
        "DeleteStreamProcessor",  # the old one is gone before the new one is created
        "CreateStreamProcessor",  # ResourceInUse: the streams are not free yet
        "CreateStreamProcessor",
        "StartStreamProcessor",
        "DescribeStreamProcessor",
        "notice: restarted",
    ]
    assert [(kind, cam) for kind, cam, _ in notices.sent] == [
        ("unwatched", "lobby"),
        ("restarted", "lobby"),
    ]
    assert "unwatched" in notices.sent[0][2] and OLD in notices.sent[0][2]


def test_a_replacement_whose_old_processor_will_not_stop_creates_nothing(
    rek: tuple[Any, Stubber],
) -> None:
    client, stub = rek
    old = {**PROPS, "ProcessorName": OLD, "CollectionId": "other"}
    stub.add_response("stop_stream_processor", {}, {"Name": OLD})
    for _ in range(5):
        described(stub, OLD, "STOPPING")
    outcome = control_processor(
        request("Update", old=old, physical=OLD), make(client, Sleeps()), 20, Notices()
    )
    assert outcome.status == "FAILED" and "still STOPPING" in outcome.reason  # no create call


def test_a_start_change_only_starts_or_stops(rek: tuple[Any, Stubber]) -> None:
    client, stub = rek
    stub.add_response("stop_stream_processor", {}, {"Name": NAME})
    describe(stub, "STOPPING")
    notices = Notices()
    outcome = control_processor(
        request("Update", start="false", old=PROPS), make(client, Sleeps()), 60, notices
    )
    assert outcome.status == "SUCCESS" and outcome.physical_id == NAME and notices.sent == []


def test_errors_become_failed_responses(rek: tuple[Any, Stubber]) -> None:
    rek[1].add_client_error(
        "stop_stream_processor", "AccessDeniedException", expected_params={"Name": NAME}
    )
    outcome = control_processor(
        request("Update", start="false", old=PROPS), make(rek[0], Sleeps()), 60
    )
    assert outcome.status == "FAILED" and "AccessDenied" in outcome.reason
    bad = control_processor(request("Create", name="bad name"), make(rek[0], Sleeps()), 60)
    assert bad.status == "FAILED"
    assert (
        control_processor(request("Delete", name="bad name"), make(rek[0], Sleeps()), 60).status
        == "SUCCESS"
    )


def test_send_response_puts_the_outcome() -> None:
    sent: list[urllib.request.Request] = []

    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def read(self) -> bytes:
            return b""

    def opener(req: urllib.request.Request) -> Answer:
        sent.append(req)
        return Answer()

    req = request("Create")
    outcome = ControlOutcome(status="SUCCESS", reason="ok", physical_id="pc-1")
    send_response(req, outcome, opener=opener)
    (put,) = sent
    body = json.loads(put.data)  # type: ignore[arg-type]
    assert put.get_method() == "PUT" and body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "pc-1" and body["RequestId"] == "r1"
    with pytest.raises(ValueError, match="https"):
        send_response(req.model_copy(update={"ResponseURL": "http://x"}), outcome, opener=opener)
