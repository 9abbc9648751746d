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
