"""The demo's clip links (report, Slack, SMS) open the local clip endpoint: the real clip_links
function behind the local HTTP API, the signature checked."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from facewatch_tools.local import LocalStack
from facewatch_tools.local.demo import Demo
from facewatch_tools.local.http_api import LOCAL_MEDIA_NOTE

pytestmark = pytest.mark.integration

SCENARIO = """
name: clips
seed: 5
fps: 2
duration_seconds: 8
sites: [{id: seoul-hq, name: Seoul HQ, time_zone: Asia/Seoul}]
cameras:
  - {id: seoul-hq-dock-01, site: seoul-hq, display_name: Dock door, severity: high}
employees: []
visits:
  - {person: courier, camera: seoul-hq-dock-01, at: 1, seconds: 4}
phones: ["+821055501234"]
"""


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _tampered(url: str) -> str:
    """The same link with the last character of its signature or token changed."""
    return url[:-1] + ("A" if url[-1] != "A" else "B")


def test_the_demo_links_open_the_local_clip_endpoint(tmp_path: Path) -> None:
    scenario = tmp_path / "clips.yaml"
    scenario.write_text(SCENARIO)
    report = tmp_path / "report.html"
    seen: dict[str, Any] = {}

    def while_up(stacks: Mapping[str, LocalStack]) -> None:
        (stack,) = stacks.values()
        base = stack.clip_base_url or ""
        seen["base"] = base
        page = report.read_text()
        seen["report_links"] = re.findall(r'href="([^"]*/clips/[^"]*)"', page)
        seen["report_page"] = page
        sms = stack.sms_messages()
        seen["sms"] = sms
        seen["sms_links"] = [u for _, text in sms for u in re.findall(r"\S+/clips/\S+", text)]
        seen["envs"] = {n: r.environment for n, r in stack.runtimes.items()}
        links = [*seen["report_links"], *seen["sms_links"]]
        seen["answers"] = {
            url: _get(url.replace("&amp;", "&")) for url in links + [_tampered(u) for u in links]
        }
        seen["requests"] = list(stack.apis["AuditApi"].requests)

    out = io.StringIO()
    assert Demo(scenario, 0, report, out, serve=while_up).run() == 0
    base = seen["base"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert "${" not in seen["report_page"]
    assert "${" not in json.dumps(seen["envs"])  # no unresolved Sub in any function
    assert seen["report_links"], "the report links the clip of each alerted incident"
    assert seen["sms_links"], out.getvalue()
    for url in [*seen["report_links"], *seen["sms_links"]]:
        assert url.startswith(base + "/clips/INC-")
        status, headers, body = seen["answers"][url]
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/html")
        assert LOCAL_MEDIA_NOTE in body  # says the video cannot play locally, and why
        incident = url.split("/clips/", 1)[1].split("?", 1)[0]
        assert f"Incident {incident}" in body
        status, _, body = seen["answers"][_tampered(url)]
        assert (status, body) == (403, "This link is not valid or has expired.")
    assert ("GET /clips/{incidentId}", 403) in seen["requests"]
    text = out.getvalue()
    assert f"open at {base} while the local stacks run" in text


def test_each_region_of_one_endpoint_checks_links_with_its_own_key() -> None:
    """`local up` runs one account in two regions behind one URL: each region's clip function
    reads its own region's key (Powertools' provider cache is per function, as per container)."""
    with (
        LocalStack() as seoul,
        LocalStack(
            region="eu-central-1", endpoint=seoul.endpoint.in_region("eu-central-1")
        ) as berlin,
    ):
        assert berlin.endpoint.url == seoul.endpoint.url
        assert berlin.account_id == seoul.account_id
        for stack in (seoul, berlin):
            link = stack.clip_link("INC-NOTONRECORD") or ""
            assert link.startswith(f"{stack.clip_base_url}/clips/INC-NOTONRECORD?")
            status, _, body = _get(link)
            assert (status, body) == (404, "This incident is no longer on record."), stack.region
            assert _get(_tampered(link))[0] == 403
