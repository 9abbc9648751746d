"""Cross-check: the sampler's records, fed through the real face_events handler, give the same
incidents and alerts as a stream processor's records of the same scene."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from facewatch.sampler.run import SamplerRequest, run_group
from tests.aws import REGION, capture_bus, drain
from tests.conftest import FACE_EVENTS_ENV
from tests.sampler.sampler_kinesis_events import kinesis_event, processor_records, read_stream
from tests.sampler.sampler_rig import STREAM, T0, Rig
from tests.sampler.sampler_scene import Visit

pytestmark = pytest.mark.integration
SAMPLED, PROCESSED = "lobby-sampled", "lobby-processed"


class Context(LambdaContext):
    def __init__(self) -> None:
        self._function_name = "facewatch-test-face-events"
        self._memory_limit_in_mb = 512
        self._invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:fe"
        self._aws_request_id = "req-1"


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def pipeline(rig: Rig, face_events_app: ModuleType) -> dict[str, Any]:
    capture = capture_bus(FACE_EVENTS_ENV["EVENT_BUS_NAME"], "Unknown Face Detected")
    sqs = boto3.client("sqs", region_name=REGION)
    rejected = sqs.create_queue(QueueName="facewatch-test-rejected-records")["QueueUrl"]
    face_events_app.settings = face_events_app.settings.model_copy(  # type: ignore[attr-defined]
        update={"rejected_queue_url": rejected}
    )
    face_events_app.default_adapters.cache_clear()
    return {"capture": capture, "app": face_events_app, "rejected": rejected}


def feed(app: ModuleType, records: list[Any]) -> None:
    for i in range(0, len(records), 100):
        response = app.lambda_handler(kinesis_event(records[i : i + 100]), Context())
        assert response == {"batchItemFailures": []}


def test_sampler_and_stream_processor_give_the_same_incidents(
    rig: Rig, pipeline: dict[str, Any]
) -> None:
    rig.add_camera(SAMPLED)
    processed_arn = rig.add_camera(PROCESSED)
    rig.scene.visits += [
        Visit(enter=T0 + 10, leave=T0 + 20, who=None),  # a stranger: one alert
        Visit(enter=T0 + 30, leave=T0 + 38, who="EMP-10442"),  # an employee: none
        Visit(enter=T0 + 100, leave=T0 + 107, who=None),  # 80 s later: a second incident
    ]
    for minute in range(3):
        run_group(
            SamplerRequest(cameras=[SAMPLED]), rig.settings, rig.deps(f"inv-{minute}"),
            lambda: 75_000,
        )  # fmt: skip
        rig.clock.sleep(T0 + 60 * (minute + 1) - rig.clock.now())
    sampled = read_stream(rig.kinesis, STREAM)
    processed = processor_records(rig.scene, PROCESSED, processed_arn, T0 - 8, T0 + 170)

    feed(pipeline["app"], sampled)
    feed(pipeline["app"], processed)

    alerts: dict[str, list[dict[str, Any]]] = {SAMPLED: [], PROCESSED: []}
    for event in drain(pipeline["capture"]):
        alerts[event["detail"]["cameraId"]].append(event["detail"])
    assert len(alerts[PROCESSED]) == 2
    assert len(alerts[SAMPLED]) == len(alerts[PROCESSED])
    for mine, theirs in zip(
        sorted(alerts[SAMPLED], key=lambda d: d["firstSeen"]),
        sorted(alerts[PROCESSED], key=lambda d: d["firstSeen"]),
        strict=True,
    ):
        assert abs(seconds(mine["firstSeen"]) - seconds(theirs["firstSeen"])) <= 1.5
        assert mine["detections"] >= 2
    sqs = boto3.client("sqs", region_name=REGION)
    assert "Messages" not in sqs.receive_message(QueueUrl=pipeline["rejected"])  # none refused


def incidents(alerts: list[dict[str, Any]]) -> list[tuple[float, int]]:
    return sorted((seconds(d["firstSeen"]), d["detections"]) for d in alerts)


def test_tracked_records_give_the_same_incidents_as_searching_every_frame(
    rig: Rig, pipeline: dict[str, Any]
) -> None:
    """The same office scene sampled twice: with tracks (a face searched once, its matches
    carried) and with every face of every analysed frame searched. face_events must see the
    same incidents: a stranger crossing an employee, a stranger behind an employee, a seated
    employee (no incident), each stranger alerted once."""
    tracked, searched = "lobby-tracked", "lobby-searched"
    rig.add_camera(tracked)
    rig.add_camera(searched)
    rig.scene.visits += [
        Visit(T0 - 30, T0 + 400, "EMP-30003", 0.16, 0.05, 0.05, top=0.3),  # seated
        Visit(T0 + 10, T0 + 22, None, 0.25, 0.15, 0.6, turn_seconds=0.5),  # crossing ...
        Visit(T0 + 10, T0 + 22, "EMP-10442", 0.25, 0.6, 0.15, turn_seconds=0.5),  # ... her
        Visit(T0 + 100, T0 + 112, "EMP-20001", 0.3, 0.2, 0.7),  # an employee walking ...
        Visit(T0 + 100.5, T0 + 112.5, None, 0.2, 0.29, 0.79, top=0.08),  # ... a stranger behind
    ]
    calls: dict[str, int] = {}
    for camera, tracking in ((tracked, True), (searched, False)):
        settings = rig.settings.model_copy(update={"tracking": tracking})
        before = rig.rekognition.calls.get("SearchFacesByImage", 0)
        rig.clock.rewind(T0)  # the scene replays: both cameras see the same people
        start = T0
        for minute in range(3):
            run_group(
                SamplerRequest(cameras=[camera]), settings, rig.deps(f"{camera}-{minute}"),
                lambda: 75_000,
            )  # fmt: skip
            rig.clock.sleep(start + 60 * (minute + 1) - rig.clock.now())
        calls[camera] = rig.rekognition.calls.get("SearchFacesByImage", 0) - before
    records = read_stream(rig.kinesis, STREAM)
    feed(pipeline["app"], records)
    alerts: dict[str, list[dict[str, Any]]] = {tracked: [], searched: []}
    for event in drain(pipeline["capture"]):
        alerts[event["detail"]["cameraId"]].append(event["detail"])
    assert len(alerts[searched]) == 2  # the two strangers; no employee
    assert len(alerts[tracked]) == len(alerts[searched])
    for mine, theirs in zip(incidents(alerts[tracked]), incidents(alerts[searched]), strict=True):
        assert abs(mine[0] - theirs[0]) <= 1.0
        assert mine[1] >= 2
    assert calls[tracked] * 3 <= calls[searched]  # and at a fraction of the searches
