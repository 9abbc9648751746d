"""`facewatch demo` with sites in two regions: one local stack per region (own moto server and
account), each camera's frames in its site's region, alerts from both, one merged audit."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from facewatch_tools.local.demo import Demo

pytestmark = pytest.mark.integration

SCENARIO = """
name: two regions
seed: 3
fps: 2
duration_seconds: 10
sites:
  - {id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul, region: ap-northeast-2}
  - {id: frankfurt, name: Frankfurt office, time_zone: Europe/Berlin, region: eu-central-1}
cameras:
  - {id: seoul-hq-dock-01, site: seoul-hq, display_name: Dock door}
  - {id: frankfurt-lobby-01, site: frankfurt, display_name: Lobby}
visits:
  - {person: courier, camera: seoul-hq-dock-01, at: 0, seconds: 4}
  - {person: visitor, camera: frankfurt-lobby-01, at: 3, seconds: 4}
"""


def test_two_regions_alert_from_their_own_stacks_and_audit_as_one(tmp_path: Path) -> None:
    scenario = tmp_path / "two.yaml"
    scenario.write_text(SCENARIO)
    out = io.StringIO()
    assert Demo(scenario, 0, tmp_path / "report.html", out).run() == 0
    text = out.getvalue()
    assert "starting 2 local stack(s), one per region (ap-northeast-2, eu-central-1)" in text
    seoul = text.split("incidents in ap-northeast-2 (1):")[1].split("incidents in eu-central-1")[0]
    assert "seoul-hq-dock-01" in seoul and "frankfurt" not in seoul  # data stays in its region
    frankfurt = text.split("incidents in eu-central-1 (1):")[1].split("Slack messages")[0]
    assert "frankfurt-lobby-01" in frankfurt and "seoul" not in frankfurt
    assert "ap-northeast-2 #default: Unknown face at Seoul HQ / Dock door" in text
    assert "eu-central-1 #default: Unknown face at Frankfurt office / Lobby" in text
    audit = text.split("one audit, every region (2 incidents, oldest first):\n")[1]
    lines = audit.splitlines()[:2]
    assert re.search(r"ap-northeast-2\s+INC-\S+\s+seoul-hq\s+seoul-hq-dock-01", lines[0])
    assert re.search(r"eu-central-1\s+INC-\S+\s+frankfurt\s+frankfurt-lobby-01", lines[1])
    assert "could not be reached" not in text
