"""functions/sampler/app.py: the scheduled event in, a bounded run, metrics out."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import load_event, load_function
from tests.sampler.sampler_rig import COLLECTION, REGION, STREAM, T0, TABLE, build_rig
from tests.sampler.sampler_scene import Visit

pytestmark = pytest.mark.integration


class Context:
    function_name = "facewatch-test-sampler"
    memory_limit_in_mb = 512
    invoked_function_arn = (
        "arn:aws:lambda:ap-northeast-2:123456789012:function:facewatch-test-sampler"
    )
    aws_request_id = "7f1d2c3b-0000-4000-8000-000000000001"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def app(aws: None, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    env = {
        "DETECTIONS_STREAM_NAME": STREAM,
        "TABLE_NAME": TABLE,
        "COLLECTION_ID": COLLECTION,
        "SAMPLER_FPS": "2",
        "SAMPLER_RUN_SECONDS": "30",
        "POWERTOOLS_METRICS_NAMESPACE": "Facewatch",
        "POWERTOOLS_SERVICE_NAME": "facewatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return load_function("sampler", env, monkeypatch)


def test_a_scheduled_invocation_serves_its_cameras_and_reports_metrics(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = build_rig(app.settings)
    rig.add_camera("seoul-hq-dock-01")
    rig.scene.visits.append(Visit(enter=T0 + 5, leave=T0 + 15))
    for name, value in {
        "_clock": rig.clock,
        "_frames": rig.frames,
        "_searcher": rig.searcher,
        "_writer": rig.writer,
        "_dynamodb": boto3.client("dynamodb", region_name=REGION),
    }.items():
        monkeypatch.setattr(app, name, value)
    event = load_event("sampler.json")

    result: dict[str, Any] = app.lambda_handler(event, Context(remaining_ms=60_000))

    assert result["cameras"]["seoul-hq-dock-01"]["served"]
    assert result["cameras"]["berlin-reception-01"]["unavailable"] == "stream not found"
    assert result["totals"]["records_written"] >= 5
    assert rig.clock.now() <= T0 + 30.001  # bounded by SAMPLER_RUN_SECONDS
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    metrics = {m["Name"] for doc in emitted for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"GapSeconds", "FramesAnalysed", "DetectFacesCalls", "CamerasUnavailable"} <= metrics


def test_the_run_is_bounded_by_the_remaining_lambda_time(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = build_rig(app.settings)
    rig.add_camera("seoul-hq-dock-01")
    for name, value in {
        "_clock": rig.clock,
        "_frames": rig.frames,
        "_searcher": rig.searcher,
        "_writer": rig.writer,
        "_dynamodb": boto3.client("dynamodb", region_name=REGION),
    }.items():
        monkeypatch.setattr(app, name, value)
    app.lambda_handler({"cameras": ["seoul-hq-dock-01"]}, Context(remaining_ms=12_000))
    assert rig.clock.now() <= T0 + 12 - app.settings.stop_margin_seconds + 0.001


def test_an_event_without_cameras_is_refused(app: ModuleType) -> None:
    with pytest.raises(Exception, match="cameras"):
        app.lambda_handler({"group": "x"}, Context(remaining_ms=60_000))
