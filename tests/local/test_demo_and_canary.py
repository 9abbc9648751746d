"""`facewatch demo` on a small scenario, and the canary against a local stack."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from facewatch_tools.canary import Canary
from facewatch_tools.cli import main
from facewatch_tools.local import LocalStack
from facewatch_tools.local.demo import Demo

pytestmark = pytest.mark.integration

SCENARIO = """
name: small
seed: 3
fps: 2
duration_seconds: 12
sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}]
cameras:
  - {id: seoul-hq-lobby-01, site: seoul-hq, display_name: Lobby entrance}
  - {id: seoul-hq-dock-01, site: seoul-hq, display_name: Dock door, severity: high}
employees: [{id: EMP-10442, name: Ji-woo Park}]
visits:
  - {person: EMP-10442, camera: seoul-hq-lobby-01, at: 0, seconds: 6}
  - {person: courier, camera: seoul-hq-dock-01, at: 2, seconds: 4}
"""


def test_demo_runs_a_scenario_and_writes_the_report(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(SCENARIO)
    report = tmp_path / "report.html"
    out = io.StringIO()
    assert Demo(scenario, 0, report, out).run() == 0
    text = out.getvalue()
    assert "incidents (1):" in text
    assert "seoul-hq-dock-01" in text
    assert "record -> alert event:   p50" in text
    page = report.read_text()
    [line] = [row for row in text.splitlines() if row.startswith("INC-")]
    incident_id = line.split()[0]
    assert incident_id in page
    assert "alerted" in page
    assert "seoul-hq-lobby-01" not in page.split("<h2>Incidents</h2>")[1].split("<h2>Slack")[0]


def test_demo_shows_the_slack_and_sms_messages(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    two_sites = SCENARIO.replace(
        "sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}]",
        "sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}, {id: berlin, name: B}]",
    )
    # The Seoul desk, the Berlin desk, and an org-wide phone (the security lead's).
    phones = '[{number: "+821055501234", site: seoul-hq}, {number: "+4915550100", site: berlin}]'
    scenario.write_text(two_sites + f'phones: {phones[:-1]}, "+12025550100"]\n')
    out = io.StringIO()
    assert Demo(scenario, 0, tmp_path / "r.html", out).run() == 0
    text = out.getvalue()
    [line] = [row for row in text.splitlines() if row.startswith("INC-")]
    incident_id = line.split()[0]
    assert "Slack messages (1):" in text
    assert "Unknown face at Seoul HQ / Dock door" in text  # the registry's names, local time
    assert f"incident {incident_id}" in text
    assert "SMS messages (2):" in text  # the Seoul alert: not to the Berlin desk
    assert "+821055501234: Unknown face: Seoul HQ / Dock door" in text
    assert "+12025550100: Unknown face: Seoul HQ / Dock door" in text
    assert "+4915550100" not in text
    assert "record -> Slack message: p50" in text
    # one message per visit, updated in place: (live, if the visit grew after its alert,)
    # acknowledged by the operator, then ended
    assert re.search(r"v\d \[follow-up\]: Acknowledged: unknown face at Seoul HQ / Dock", text)
    assert "thread: ⏹ Visit ended after" in text
    page = (tmp_path / "r.html").read_text()
    assert incident_id in page and "Dock door" in page


LIVE_SCENARIO = """
name: live
seed: 3
fps: 2
duration_seconds: 6
sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}]
cameras:
  - {id: seoul-hq-dock-01, site: seoul-hq, display_name: Dock door, severity: high}
visits:
  - {person: courier, camera: seoul-hq-dock-01, at: 0, seconds: 5}
"""


def test_demo_shows_the_message_growing_live(tmp_path: Path) -> None:
    scenario = tmp_path / "live.yaml"
    scenario.write_text(LIVE_SCENARIO)
    out = io.StringIO()
    # 2x: the visit spans several one-second batches, so it grows after its alert
    assert Demo(scenario, 2, tmp_path / "r.html", out).run() == 0
    text = out.getvalue()
    assert re.search(r"v2 \[live\]: Unknown face at Seoul HQ / Dock door", text), text
    found = re.search(r"\[live\]: (\d+) chat.update from (\d+) Incident Updated", text)
    assert found and 1 <= int(found[1]) <= int(found[2]), text
    [message] = [line for line in text.splitlines() if "v2 [live]" in line]
    first = re.search(r"v1: .*\((\d+) detections", text)
    grown = re.search(r"\((\d+) detections", message)
    assert first and grown and int(grown[1]) > int(first[1])


@pytest.fixture(scope="module")
def running() -> Iterator[LocalStack]:
    with LocalStack() as stack:
        yield stack


def test_canary_sees_its_alert_and_cleans_up(running: LocalStack) -> None:
    def pump(_: float) -> None:
        running.pump()

    canary = Canary(running.client, running.stack_name, sleep=pump)
    result = canary.run()
    assert result.camera_id.startswith("facewatch-canary-")
    assert result.test_flag is True
    assert result.frames == 2  # the function's MIN_DETECTIONS
    assert result.alert_after >= result.incident_after >= 0
    events = running.client("events")
    bus = running.deployed.outputs["EventBusName"]
    assert result.camera_id not in [r["Name"] for r in events.list_rules(EventBusName=bus)["Rules"]]
    assert not [
        u for u in running.client("sqs").list_queues().get("QueueUrls", []) if result.camera_id in u
    ]
    items = running.client("dynamodb").scan(TableName=running.deployed.outputs["TableName"])[
        "Items"
    ]
    assert not [i for i in items if result.camera_id in str(i) or result.incident_id in str(i)]


def test_canary_command_against_the_local_endpoint(
    running: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in running.endpoint.credentials.env().items():
        monkeypatch.setenv(key, value)
    running.start_background(interval=0.02)
    try:
        code = main(
            [
                "canary",
                "--stack",
                running.stack_name,
                "--region",
                running.region,
                "--endpoint-url",
                running.endpoint.url,
                "--timeout",
                "20",
            ]
        )
    finally:
        running.stop_background()
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("canary OK on facewatch-dev")
    assert "(test=true)" in out


def test_canary_fails_clearly_for_an_unknown_stack(
    running: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in running.endpoint.credentials.env().items():
        monkeypatch.setenv(key, value)
    code = main(
        [
            "canary",
            "--stack",
            "nope",
            "--endpoint-url",
            running.endpoint.url,
            "--region",
            running.region,
        ]
    )
    assert code == 1
    assert "stack 'nope' not found" in capsys.readouterr().err


def test_demo_honours_the_same_settings_as_replay(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(SCENARIO)
    out = io.StringIO()
    demo = Demo(scenario, 0, tmp_path / "r.html", out, environ={"MIN_DETECTIONS": "50"})
    assert demo.run() == 0
    text = out.getvalue()
    assert "MIN_DETECTIONS=50 (from your environment)" in text
    assert "FACE_MATCH_THRESHOLD=" in text
    rows = [re.split(r"\s{2,}", row) for row in text.splitlines() if row.startswith("INC-")]
    assert rows and all(cells[5] == "no" for cells in rows)  # 8 frames < 50: nobody alerted
