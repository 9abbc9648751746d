"""`facewatch cameras plan|apply|status` with the real camera-template.yaml on the local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facewatch_tools.cli import main
from facewatch_tools.fleet.local_stacks import METADATA_KEY, NOT_EMULATED, translate
from facewatch_tools.fleet.stacks import DEFAULT_TEMPLATE
from facewatch_tools.local import LocalStack

REGION = "eu-central-1"  # a Region with stream processors: the local refusal is what is tested
PSEUDO = {
    "AWS::StackName": "facewatch-dev-cam-lobby",
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def _parameters(detector: str) -> dict[str, str]:
    return {
        "MainStack": "facewatch-dev",
        "Environment": "dev",
        "CameraId": "berlin-lobby-01",
        "Detector": detector,
        "RetentionHours": "72",
        "CollectionId": "facewatch-employees",
        "FaceMatchThreshold": "80",
        "StartProcessor": "true",
        "ProcessorName": "facewatch-dev-berlin-lobby-01-abc123",
    }


BODY = DEFAULT_TEMPLATE.read_text()


def test_a_sampler_camera_splits_into_api_resources_and_a_moto_template() -> None:
    found = translate(BODY, _parameters("sampler"), PSEUDO)
    assert found.refused == []
    assert found.streams["VideoStream"]["Name"] == "berlin-lobby-01"
    assert found.streams["VideoStream"]["DataRetentionInHours"] == "72"
    assert {"Key": "facewatch:environment", "Value": "dev"} in found.streams["VideoStream"]["Tags"]
    assert set(found.schedules) == {"SamplerSchedule"}
    made = {
        "VideoStream": {"Type": "AWS::KinesisVideo::Stream", "Ref": "lobby", "Arn": "arn:kvs"},
        "SamplerSchedule": {"Type": "AWS::Scheduler::Schedule", "Ref": "s", "Arn": "arn:sched"},
    }
    body = found.for_moto(made)
    kinds = {r["Type"] for r in body["Resources"].values()}
    assert not kinds & {
        "AWS::KinesisVideo::Stream",
        "AWS::Scheduler::Schedule",
        "Custom::StreamProcessor",
    }
    assert body["Outputs"]["VideoStreamArn"]["Value"] == "arn:kvs"
    assert body["Outputs"]["SamplerScheduleArn"]["Value"] == "arn:sched"
    props = body["Outputs"]["LocalPropsSamplerSchedule"]["Value"]["Fn::ToJsonString"]
    assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["SamplerScheduleRole", "Arn"]}
    assert body["Metadata"][METADATA_KEY]["made"] == made
    assert "VideoStream" not in json.dumps(body["Resources"])  # no Ref, GetAtt or DependsOn left


def test_a_stream_processor_camera_is_refused_in_one_line() -> None:
    found = translate(BODY, _parameters("stream-processor"), PSEUDO)
    assert found.refused == [("StreamProcessor", "Custom::StreamProcessor")]
    line = found.refusal("facewatch-dev-cam-berlin-lobby-01")
    assert "\n" not in line
    assert "not emulated locally" in line and "Rekognition stream processor" in line


def test_a_video_only_camera_has_just_its_stream() -> None:
    found = translate(BODY, _parameters("none"), PSEUDO)
    assert (set(found.streams), found.schedules, found.refused) == ({"VideoStream"}, {}, [])


INVENTORY = """
sites: [{id: berlin, name: Berlin office, time_zone: Europe/Berlin, region: eu-central-1}]
cameras:
"""
LOBBY = "  - {id: berlin-lobby-01, site: berlin, display_name: Lobby, detector: sampler}\n"
DOCK = "  - {id: berlin-dock-01, site: berlin, display_name: Dock, detector: sampler}\n"
HALL = "  - {id: berlin-hall-01, site: berlin, display_name: Hall, detector: sampler}\n"
GATE = "  - {id: berlin-gate-01, site: berlin, display_name: Gate, detector: stream-processor}\n"
# Each test has cameras of its own (the stack is shared by the module, in any test order);
# --prune is given only with the cameras of the test that prunes.


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    with LocalStack(region=REGION) as stack:
        yield stack


@pytest.fixture
def cameras(
    local: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Any:
    """`facewatch cameras ...` with `facewatch local env`'s exports; (exit code, stdout)."""
    for key, value in local.endpoint.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FACEWATCH_STACK", local.stack_name)
    inventory = tmp_path / "cameras.yaml"

    def run(cameras_yaml: str, *argv: str) -> tuple[int, str]:
        inventory.write_text(INVENTORY + cameras_yaml)
        code = main(["cameras", *argv, "--inventory", str(inventory)])
        return code, capsys.readouterr().out

    return run


def _kvs_streams(local: LocalStack) -> set[str]:
    found = local.client("kinesisvideo").list_streams()["StreamInfoList"]
    return {s["StreamName"] for s in found}


def _schedule_inputs(local: LocalStack, camera: str = "") -> dict[str, str]:
    """Schedule name -> its input, for the schedules of ``camera``'s stack (default: all)."""
    scheduler = local.client("scheduler")
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"] if camera in s["Name"]]
    return {n: scheduler.get_schedule(Name=n)["Target"]["Input"] for n in names}


def test_plan_apply_status_reapply_and_prune(cameras: Any, local: LocalStack) -> None:
    code, out = cameras(LOBBY + DOCK, "plan")
    assert code == 0, out
    assert "stacks: 2 create" in out
    assert "quotas: not checked against a local endpoint" in out

    code, out = cameras(LOBBY + DOCK, "apply", "--yes")
    assert code == 0, out
    assert "facewatch-dev-cam-berlin-lobby-01: CREATE_COMPLETE" in out
    assert "stacks: 2 changed, 0 unchanged, 0 failed" in out
    assert {"berlin-lobby-01", "berlin-dock-01"} <= _kvs_streams(local)
    inputs = {**_schedule_inputs(local, "lobby"), **_schedule_inputs(local, "dock")}
    assert sorted(json.loads(i)["cameras"][0] for i in inputs.values()) == [
        "berlin-dock-01",
        "berlin-lobby-01",
    ]
    sampler_arn = local.runtimes["facewatch-dev-sampler"].spec.arn
    scheduler = local.client("scheduler")
    target = scheduler.get_schedule(Name=next(iter(inputs)))["Target"]
    assert target["Arn"] == sampler_arn  # the main stack's export, resolved by moto
    assert ":role/facewatch-dev-cam-berlin-" in target["RoleArn"]

    code, out = cameras(LOBBY + DOCK, "status")
    assert code == 0, out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if "berlin-" in line}
    assert rows["berlin-lobby-01"] == rows["berlin-dock-01"] == "CREATE_COMPLETE"

    code, out = cameras(LOBBY + DOCK, "apply", "--yes")
    assert (code, "nothing to do" in out) == (0, True), out

    code, out = cameras(LOBBY, "apply", "--yes", "--prune")
    assert code == 0, out
    assert "delete facewatch-dev-cam-berlin-dock-01" in out
    stacks = local.client("cloudformation").describe_stacks()["Stacks"]
    assert "facewatch-dev-cam-berlin-dock-01" not in {s["StackName"] for s in stacks}
    assert "berlin-dock-01" not in _kvs_streams(local)  # what the API made goes with it
    assert _schedule_inputs(local, "dock") == {}
    assert [json.loads(i)["cameras"] for i in _schedule_inputs(local, "lobby").values()] == [
        ["berlin-lobby-01"]
    ]


def test_an_update_keeps_the_schedule_and_follows_the_template(
    cameras: Any, local: LocalStack
) -> None:
    code, out = cameras(HALL, "apply", "--yes")
    assert code == 0, out
    before = _schedule_inputs(local, "hall")
    assert len(before) == 1
    code, out = cameras(HALL, "apply", "--yes", "--retention-hours", "96")
    assert code == 0, out
    assert "RetentionHours: '72' -> '96'" in out and "UPDATE_COMPLETE" in out
    [stream] = [
        s
        for s in local.client("kinesisvideo").list_streams()["StreamInfoList"]
        if s["StreamName"] == "berlin-hall-01"
    ]
    assert stream["DataRetentionInHours"] == 96
    assert _schedule_inputs(local, "hall") == before  # the same schedule, updated in place
    code, out = cameras(HALL, "apply", "--yes", "--retention-hours", "96")
    assert "nothing to do" in out


def test_a_stream_processor_camera_says_what_is_not_emulated(
    cameras: Any, local: LocalStack
) -> None:
    code, out = cameras(GATE, "apply", "--yes")
    assert code == 1
    [line] = [row for row in out.splitlines() if "not emulated locally" in row]
    assert "facewatch-dev-cam-berlin-gate-01" in line and "Custom::StreamProcessor" in line
    assert f"FAILED facewatch-dev-cam-berlin-gate-01: {NOT_EMULATED}" in out
    stacks = local.client("cloudformation").describe_stacks()["Stacks"]
    assert "facewatch-dev-cam-berlin-gate-01" not in {s["StackName"] for s in stacks}
    assert "berlin-gate-01" not in _kvs_streams(local)  # nothing half made
