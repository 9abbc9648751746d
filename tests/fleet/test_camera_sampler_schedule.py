"""Sampler cameras are sampled: camera-template.yaml's per-camera schedule (only for sampler
cameras), its input parsed by the sampler's own request model, and its least-privilege role."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from facewatch.fleet.inventory import Detector, load_inventory
from facewatch.sampler.run import SamplerRequest
from facewatch_tools.fleet.stacks import VIDEO_ONLY, MainStack, desired_stacks

from .conftest import ROOT, load_template

MAIN = load_template("template.yaml")
CAMERA = load_template("camera-template.yaml")
SAMPLER_ONLY = {"SamplerScheduleRole", "SamplerSchedule"}
PROCESSOR_ONLY = {
    "DetectionStream",
    "ProcessorRole",
    "StreamProcessor",
    "DetectionsMapping",
}
SAMPLER_ARN_IMPORT = {"Fn::ImportValue": {"Fn::Sub": "${MainStack}-SamplerFunctionArn"}}


def holds(condition: str, detector: str) -> bool:
    """Evaluate one of the camera template's Detector conditions (all are Fn::Equals on it)."""
    left, right = CAMERA["Conditions"][condition]["Fn::Equals"]
    assert left == {"Ref": "Detector"}
    return bool(right == detector)


def created(detector: str) -> set[str]:
    return {
        name
        for name, res in CAMERA["Resources"].items()
        if "Condition" not in res or holds(res["Condition"], detector)
    }


def schedule() -> dict[str, Any]:
    props: dict[str, Any] = CAMERA["Resources"]["SamplerSchedule"]["Properties"]
    return props


def schedule_input(camera_id: str) -> str:
    template = schedule()["Target"]["Input"]["Fn::Sub"]
    assert isinstance(template, str)
    return template.replace("${CameraId}", camera_id)


def test_the_detector_allows_exactly_the_two_conditions_and_video_only() -> None:
    allowed = [d.value for d in Detector] + [VIDEO_ONLY]
    assert CAMERA["Parameters"]["Detector"]["AllowedValues"] == allowed
    for detector in Detector:
        assert holds("IsSampler", detector.value) is (detector is Detector.SAMPLER)
        assert holds("IsStreamProcessor", detector.value) is (detector is Detector.STREAM_PROCESSOR)


def test_a_recognition_off_camera_gets_the_video_stream_only() -> None:
    assert created(VIDEO_ONLY) == {"VideoStream"}


def test_only_sampler_cameras_get_the_schedule() -> None:
    assert created("sampler") == {"VideoStream"} | SAMPLER_ONLY
    assert created("stream-processor") == {"VideoStream"} | PROCESSOR_ONLY
    assert CAMERA["Outputs"]["SamplerScheduleArn"]["Condition"] == "IsSampler"


@pytest.mark.parametrize("camera_id", ["berlin-reception-01", "a", "cam_7.lobby", "x" * 100])
def test_the_input_is_a_sampler_request_for_this_camera_alone(camera_id: str) -> None:
    raw = schedule_input(camera_id)
    assert set(json.loads(raw)) == {"cameras"}  # nothing the model would silently ignore
    request = SamplerRequest.model_validate_json(raw)
    assert request.cameras == [camera_id]
    # The main stack's sampler alarms watch group=default: per-camera runs report there too.
    assert request.group == "default"
    for alarm in ("SamplerGapAlarm", "SamplerRecordsLostAlarm"):
        dims = MAIN["Resources"][alarm]["Properties"]["Dimensions"]
        assert {"Name": "group", "Value": request.group} in dims


def test_camera_ids_cannot_break_out_of_the_json_input() -> None:
    pattern = re.compile(CAMERA["Parameters"]["CameraId"]["AllowedPattern"])
    for bad in ['cam"x', "cam\\x", "cam x", "", "x" * 101]:
        assert not pattern.fullmatch(bad)


def test_every_sampler_camera_of_the_inventory_gets_a_valid_input() -> None:
    inventory = load_inventory(ROOT / "cameras.yaml")
    main = MainStack("facewatch-dev", "dev", "facewatch-employees", "80")
    pattern = re.compile(CAMERA["Parameters"]["CameraId"]["AllowedPattern"])
    samplers = [
        d
        for d in desired_stacks(inventory, main, "body", 72)
        if d.parameters["Detector"] == "sampler"
    ]
    assert samplers, "cameras.yaml has no sampler camera to check"
    for stack in samplers:
        cam = stack.parameters["CameraId"]
        assert pattern.fullmatch(cam)
        assert SamplerRequest.model_validate_json(schedule_input(cam)).cameras == [cam]
        assert set(stack.parameters) <= set(CAMERA["Parameters"])


def test_the_schedule_runs_the_main_stacks_sampler_every_minute_without_retries() -> None:
    props = schedule()
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["State"] == "ENABLED"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert target["Arn"] == SAMPLER_ARN_IMPORT
    assert target["RoleArn"] == {"Fn::GetAtt": ["SamplerScheduleRole", "Arn"]}
    # A missed minute is redone by the next run from the checkpoints; a late one only competes.
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 60
    output = MAIN["Outputs"]["SamplerFunctionArn"]
    assert output["Value"] == {"Fn::GetAtt": ["SamplerFunction", "Arn"]}
    assert output["Export"] == {"Name": {"Fn::Sub": "${AWS::StackName}-SamplerFunctionArn"}}


def test_the_schedule_role_may_only_invoke_the_sampler() -> None:
    role = CAMERA["Resources"]["SamplerScheduleRole"]["Properties"]
    assert set(role) == {"Description", "AssumeRolePolicyDocument", "Policies"}  # no managed
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": SAMPLER_ARN_IMPORT,
    }


def test_only_this_accounts_scheduler_can_assume_the_role() -> None:
    role = CAMERA["Resources"]["SamplerScheduleRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    equals = trust["Condition"]["StringEquals"]
    assert equals["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert equals["aws:SourceArn"]["Fn::Sub"].endswith(
        ":scheduler:${AWS::Region}:${AWS::AccountId}:schedule-group/default"
    )
    assert "ScheduleGroupName" not in schedule()  # so it is in the default group
