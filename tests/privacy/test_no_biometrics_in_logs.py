"""Privacy: a whole local run (the default scenario: employees, strangers, Slack, SMS) must not
put biometric data or secrets in any function's logs at INFO or above, and every store of face
data must expire on its own setting."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from facewatch.fleet.inventory import Inventory
from facewatch_tools.local.demo import subscribe_desks
from facewatch_tools.local.scenario import load_scenario
from facewatch_tools.local.simulator import frames
from facewatch_tools.local.stack import LocalStack
from facewatch_tools.template import resource

pytestmark = pytest.mark.integration

FORBIDDEN = {
    "face landmarks": re.compile(r"Landmarks|eyeLeft|eyeRight|mouthLeft|mouthRight"),
    "image bytes": re.compile(r"/9j/|\\xff\\xd8|iVBORw0KGgo"),
    "presigned or session URLs": re.compile(r"X-Amz-Signature|X-Amz-Credential|SessionToken="),
    "Slack webhook URLs": re.compile(r"hooks\.slack\.com/services|/webhook/"),
}


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[LocalStack, set[str]]]:
    scenario = load_scenario()
    with LocalStack(slack_routes=scenario.slack_routes()) as stack:
        inventory = Inventory(sites=scenario.sites, cameras=scenario.cameras)
        stack.load_registry(inventory)
        subscribe_desks(stack, scenario, inventory)
        arns = {c.id: stack.video_stream_arn(c.id) for c in scenario.cameras}
        planned = frames(scenario, time.time() - 120, arns)
        stack.put_records([(f.data(), f.camera_id) for f in planned])
        stack.pump()
        face_ids = {
            match["Face"][key]
            for frame in planned
            for face in frame.record["FaceSearchResponse"]
            for match in face["MatchedFaces"]
            for key in ("FaceId", "ImageId")
        }
        yield stack, face_ids


def info_lines(stack: LocalStack) -> list[str]:
    lines = []
    for runtime in stack.runtimes.values():
        for line in runtime.log:
            try:
                level = json.loads(line).get("level", "INFO")
            except ValueError:
                level = "INFO"  # unstructured output counts as INFO
            if level != "DEBUG":
                lines.append(line)
    return lines


def test_the_run_alerted_on_both_channels(run: tuple[LocalStack, set[str]]) -> None:
    stack, face_ids = run
    assert stack.slack.posts and stack.sms_messages()
    assert face_ids  # employees were matched, so there were face ids to leak
    lines = info_lines(stack)
    assert len(lines) > 10 and any("alert published" in line for line in lines)


@pytest.mark.parametrize("what", sorted(FORBIDDEN))
def test_no_forbidden_data_in_logs(run: tuple[LocalStack, set[str]], what: str) -> None:
    stack, _ = run
    leaks = [line[:200] for line in info_lines(stack) if FORBIDDEN[what].search(line)]
    assert leaks == [], f"{what} in logs"


def test_no_employee_face_ids_in_logs(run: tuple[LocalStack, set[str]]) -> None:
    stack, face_ids = run
    text = "\n".join(info_lines(stack))
    assert [f for f in face_ids if f in text] == []


def test_no_local_webhook_url_in_logs(run: tuple[LocalStack, set[str]]) -> None:
    stack, _ = run
    sink = stack.slack.url("default").rsplit("/", 1)[0]
    assert sink not in "\n".join(info_lines(stack))


def test_face_data_expires_on_its_own_settings(run: tuple[LocalStack, set[str]]) -> None:
    stack, _ = run
    table = stack.deployed.outputs["TableName"]
    items = stack.client("dynamodb").scan(TableName=table)["Items"]
    with_faces = [i for i in items if i["SK"]["S"] in ("STATE", "INCIDENT")]
    assert with_faces
    assert all("expiresAt" in i for i in with_faces)
    rules = resource("SnapshotBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("ExpirationInDays") == {"Ref": "SnapshotRetentionDays"} for r in rules)
    assert resource("IncidentsTable")["Properties"]["TimeToLiveSpecification"]["Enabled"] is True
