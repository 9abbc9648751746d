"""`facewatch cameras plan|apply|status` across two regions: one main stack per region, each
camera's stack and registry item in its site's region, the detector checked per region, and a
region that cannot be reached named while the other answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facewatch_tools.cli import build_parser, main
from facewatch_tools.cli.cameras import Clients, run_status
from facewatch_tools.fleet.stacks import CloudFormationEngine

from .conftest import (
    FRANKFURT,
    MAIN,
    SEOUL,
    TABLE,
    UNREACHABLE,
    client,
    resource,
    stand_in_camera_template,
    two_region_inventory,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Tried to parse AWS")]


def cameras(regions: dict[str, Any], tmp_path: Path, *argv: str) -> int:
    template = stand_in_camera_template(tmp_path / "camera.json")
    return main(
        [
            "cameras",
            *argv,
            "--stack",
            MAIN,
            "--template",
            str(template),
            *regions["endpoints"],
        ]
    )


def camera_stacks(url: str, region: str) -> dict[str, str]:
    stacks = client(url, "cloudformation", region).describe_stacks()["Stacks"]
    return {s["StackName"]: s["StackStatus"] for s in stacks if s["StackName"] != MAIN}


def registry_cameras(url: str, region: str) -> set[str]:
    items = resource(url, region).Table(TABLE).scan()["Items"]
    return {str(i["PK"]).removeprefix("CAMERA#") for i in items if i["SK"] == "REGISTRY"}


def test_a_detector_the_region_cannot_run_is_refused_with_what_to_do(
    regions: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = two_region_inventory(tmp_path / "cameras.yaml", seoul_door="stream-processor")
    assert cameras(regions, tmp_path, "plan", "--inventory", str(inventory)) == 1
    out = capsys.readouterr().out
    seoul, frankfurt = out.split("== region eu-central-1")
    assert "== region ap-northeast-2" in seoul
    assert (
        "REFUSED camera seoul-hq-door-02: ap-northeast-2 cannot run the stream-processor" in seoul
    )
    assert "use `detector: sampler`" in seoul
    assert "frankfurt-lobby-01  create" in frankfurt and "REFUSED" not in frankfurt
    assert "seoul" not in frankfurt  # each region plans only its own sites' cameras
    inventory = two_region_inventory(tmp_path / "cameras.yaml", seoul_door="stream-processor")
    assert cameras(regions, tmp_path, "apply", "--yes", "--inventory", str(inventory)) == 1
    assert camera_stacks(regions["url"], SEOUL) == {}  # refused before anything was created


def test_apply_puts_each_camera_in_its_sites_region_and_is_idempotent(
    regions: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(two_region_inventory(tmp_path / "cameras.yaml"))
    assert cameras(regions, tmp_path, "apply", "--yes", "--inventory", inventory) == 0
    url = regions["url"]
    assert camera_stacks(url, SEOUL) == {
        f"{MAIN}-cam-seoul-hq-lobby-01": "CREATE_COMPLETE",
        f"{MAIN}-cam-seoul-hq-door-02": "CREATE_COMPLETE",
    }
    assert camera_stacks(url, FRANKFURT) == {f"{MAIN}-cam-frankfurt-lobby-01": "CREATE_COMPLETE"}
    # Alerts stay in their region: each regional table knows only its own cameras.
    assert registry_cameras(url, SEOUL) == {"seoul-hq-lobby-01", "seoul-hq-door-02"}
    assert registry_cameras(url, FRANKFURT) == {"frankfurt-lobby-01"}
    stack = client(url, "cloudformation", FRANKFURT).describe_stacks(
        StackName=f"{MAIN}-cam-frankfurt-lobby-01"
    )["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["Detector"] == "stream-processor"
    assert params["CollectionId"] == "facewatch-dev-employees"  # the region's own collection
    capsys.readouterr()

    assert cameras(regions, tmp_path, "apply", "--yes", "--inventory", inventory) == 0
    assert capsys.readouterr().out.count("nothing to do") == 2


def test_region_flag_restricts_and_a_region_without_sites_plans_its_leftovers(
    regions: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(two_region_inventory(tmp_path / "cameras.yaml"))
    argv = ["apply", "--yes", "--inventory", inventory, "--region", FRANKFURT]
    assert cameras(regions, tmp_path, *argv) == 0
    assert camera_stacks(regions["url"], SEOUL) == {}
    assert list(camera_stacks(regions["url"], FRANKFURT)) == [f"{MAIN}-cam-frankfurt-lobby-01"]
    # The Frankfurt site moves to Seoul: Frankfurt's stack is now a leftover there.
    moved = Path(inventory).read_text().replace("region: eu-central-1", "region: ap-northeast-2")
    Path(inventory).write_text(moved)
    capsys.readouterr()
    assert cameras(regions, tmp_path, "plan", "--inventory", inventory, "--region", FRANKFURT) == 0
    assert "frankfurt-lobby-01  keep" in capsys.readouterr().out


def test_status_summarises_every_region_and_names_the_one_it_cannot_reach(
    regions: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(two_region_inventory(tmp_path / "cameras.yaml"))
    assert cameras(regions, tmp_path, "apply", "--yes", "--inventory", inventory) == 0
    url = regions["url"]
    resource(url, SEOUL).Table(TABLE).put_item(
        Item={
            "PK": "CAMERA#seoul-hq-lobby-01",
            "SK": "HEALTH",
            "health": {"status": "DOWN", "reason": "no video fragment for 15 min"},
        }
    )
    capsys.readouterr()
    assert cameras(regions, tmp_path, "status", "--inventory", inventory) == 0
    out = capsys.readouterr().out
    summary = out.split("\nregions:\n")[1].splitlines()
    assert summary[1].startswith(SEOUL) and "2/2" in summary[1] and "1 DOWN" in summary[1]
    assert summary[2].startswith(FRANKFURT) and "1/1" in summary[2]

    # --summary: one line per region and no camera rows, whatever the camera count
    assert cameras(regions, tmp_path, "status", "--summary", "--inventory", inventory) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "seoul-hq-lobby-01" not in "\n".join(lines)
    assert lines[1].startswith(SEOUL) and "1 DOWN" in lines[1]
    status = ["status", "--summary", "-o", "json", "--inventory", inventory]
    assert cameras(regions, tmp_path, *status) == 0
    assert [r["region"] for r in json.loads(capsys.readouterr().out)] == [SEOUL, FRANKFURT]

    def clients(region: str | None) -> Clients:
        where = UNREACHABLE if region == FRANKFURT else url
        assert region is not None
        return Clients(
            cloudformation=client(where, "cloudformation", region, attempts=1),
            rekognition=client(where, "rekognition", region, attempts=1),
            kinesis=client(where, "kinesis", region, attempts=1),
            service_quotas=client(where, "service-quotas", region, attempts=1),
            dynamodb=resource(where, region),
            stack_engine=CloudFormationEngine(
                client(where, "cloudformation", region, attempts=1), sleep=lambda _s: None
            ),
        )

    template = str(stand_in_camera_template(tmp_path / "camera.json"))
    args = build_parser().parse_args(
        ["cameras", "status", "--inventory", inventory, "--stack", MAIN, "--template", template]
    )
    assert run_status(args, clients) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "region eu-central-1 could not be reached" in captured.err
    assert "seoul-hq-lobby-01" in out and "DOWN    no video fragment for 15 min" in out
    assert any(line.startswith(FRANKFURT) and "UNAVAILABLE" in line for line in out.splitlines())
