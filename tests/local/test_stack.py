"""The project's own template on the local stack, through the real face_events handler."""

from __future__ import annotations

import json
import time

import pytest

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.local import LocalStack
from facewatch_tools.template import main_template, resource

pytestmark = pytest.mark.integration


def _put(stack: LocalStack, camera: str, times: list[float], faces: list[FaceSpec]) -> None:
    arn = stack.video_stream_arn(camera)
    stack.put_records(
        [(json.dumps(frame_record(camera, t, faces, arn=arn)).encode(), camera) for t in times]
    )


def test_functions_mappings_and_names_come_from_the_template(facewatch_stack: LocalStack) -> None:
    deployed = facewatch_stack.deployed
    declared = resource("FaceEventsStreamMapping")["Properties"]
    [mapping] = [m for m in deployed.mappings if m.source_service == "kinesis"]
    assert mapping.batch_size == declared["BatchSize"]
    assert mapping.window_seconds == declared["MaximumBatchingWindowInSeconds"]
    assert mapping.bisect is declared["BisectBatchOnFunctionError"]
    assert mapping.max_retries == declared["MaximumRetryAttempts"]
    assert mapping.report_item_failures
    assert mapping.on_failure is not None
    assert mapping.on_failure.endswith(":facewatch-dev-stream-failures")
    function = deployed.function_by_arn(mapping.function_arn)
    assert function.environment["TABLE_NAME"] == deployed.outputs["TableName"]
    assert function.environment["EVENT_BUS_NAME"] == deployed.outputs["EventBusName"]
    defaults = main_template()["Parameters"]
    assert function.environment["MIN_DETECTIONS"] == str(defaults["MinDetections"]["Default"])
    assert "FACE_MATCH_THRESHOLD" in function.settings
    assert "TABLE_NAME" not in function.settings  # resource names are never overridden


def test_a_stranger_alerts_once_with_a_clip(facewatch_stack: LocalStack) -> None:
    stack = facewatch_stack
    start = time.time() - 30
    _put(stack, "seoul-hq-lobby-01", [start, start + 0.5, start + 1.0], [FaceSpec()])
    stack.pump()
    alerts = [
        e
        for e in stack.alert_events()
        if e.detail_type == ALERT_DETAIL_TYPE and e.detail["cameraId"] == "seoul-hq-lobby-01"
    ]
    assert len(alerts) == 1
    detail = alerts[0].detail
    assert detail["detections"] >= 2
    assert detail["clip"] is None  # no HLS session spent: the signed link is the clip
    assert detail["test"] is False
    [row] = [r for r in stack.incidents() if r.camera_id == "seoul-hq-lobby-01"]
    assert row.alerted and row.incident_id == detail["incidentId"]
    assert row.clip_url is None
    assert row.detections == 3


def test_a_single_frame_is_an_incident_that_did_not_alert(facewatch_stack: LocalStack) -> None:
    stack = facewatch_stack
    _put(stack, "berlin-reception-01", [time.time() - 20], [FaceSpec()])
    stack.pump()
    [row] = [r for r in stack.incidents() if r.camera_id == "berlin-reception-01"]
    assert row.alerted is False
    assert row.detections == 1
    assert row.clip_url is None


def test_employees_make_no_incident(facewatch_stack: LocalStack) -> None:
    stack = facewatch_stack
    employee = FaceSpec(employee_id="EMP-10442", similarity=97.0)
    _put(stack, "seoul-hq-dock-01", [time.time() - 10, time.time() - 9], [employee])
    stack.pump()
    assert [r for r in stack.incidents() if r.camera_id == "seoul-hq-dock-01"] == []


def test_a_malformed_record_is_kept_with_its_reason(facewatch_stack: LocalStack) -> None:
    stack = facewatch_stack
    stack.put_records([(b"{not json", "bad")])
    stack.pump()
    sqs = stack.client("sqs")
    found = sqs.receive_message(
        QueueUrl=stack.deployed.outputs["RejectedRecordsQueueUrl"], MaxNumberOfMessages=10
    )["Messages"]
    reasons = [json.loads(m["Body"])["reason"] for m in found]
    assert any(r.startswith("invalid record") for r in reasons)


def test_notifications_follow_the_template(facewatch_stack: LocalStack) -> None:
    """Slack/SMS are asserted as soon as the template has notifier functions."""
    stack = facewatch_stack
    stack.subscribe_phones(["+821055501234"])
    start = time.time() - 60
    _put(stack, "seoul-hq-lobby-02", [start, start + 1], [FaceSpec()])
    stack.pump()
    [alert] = [e for e in stack.alert_events() if e.detail.get("cameraId") == "seoul-hq-lobby-02"]
    assert stack.failed_deliveries() == []
    incident_id = alert.detail["incidentId"]
    if stack.notifier_functions("slack"):
        assert any(incident_id in post.text() for post in stack.slack.posts)
    else:
        assert stack.slack.posts == []
    if stack.notifier_functions("sms"):
        assert stack.sms_messages()
