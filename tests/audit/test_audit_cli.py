"""`facewatch audit ...` end to end on moto, and the HTML report opened in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from facewatch.clips.links import verify_clip_link
from facewatch.detections.store import to_item
from facewatch_tools.audit.browser import screenshot
from facewatch_tools.audit.report import PALETTE
from facewatch_tools.cli import main
from facewatch_tools.cli.audit import parse_time

from .conftest import DAY, REGION, T0, TABLE, create_table, seed

pytestmark = pytest.mark.integration
WHERE = ["--table", TABLE, "--region", REGION]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["audit", *argv])
    return code, capsys.readouterr().out


def test_incidents_as_csv_json_and_table(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seeded = seed(dynamodb, 300)
    expected = sorted(
        seeded.where(site="lab", since=T0 + 3 * DAY, until=T0 + 20 * DAY), key=lambda i: i["first"]
    )
    window = ["--site", "lab", "--since", "2026-03-04", "--until", "2026-03-21T00:00:00Z"]
    code, out = run(capsys, "incidents", *WHERE, *window, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["incidentId"] for r in rows] == [i["id"] for i in expected]
    assert {r["siteId"] for r in rows} == {"lab"}

    _, out = run(capsys, "incidents", *WHERE, *window, "--output", "json", "--page-size", "7")
    assert [d["incidentId"] for d in json.loads(out)] == [i["id"] for i in expected]

    _, out = run(capsys, "incidents", *WHERE, "--status", "escalated", "--camera", "hq-cam2")
    lines = out.splitlines()
    assert lines[0].startswith("INCIDENT_ID")
    assert len(lines) - 1 == len(seeded.where(status="escalated", camera="hq-cam2"))


def test_show_prints_the_whole_trail(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seed(dynamodb, 3)
    assert run(capsys, "set-status", *WHERE, "inc-00000", "escalated", "--by", "carol")[0] == 0
    code, out = run(capsys, "set-status", *WHERE, "inc-00000", "escalated", "--by", "dave")
    assert code == 0 and "not changed" in out and "carol" in out
    code, out = run(capsys, "show", *WHERE, "inc-00000", "--format", "json")
    document = json.loads(out)
    assert document["incident"]["status"] == "escalated"
    (change,) = [t for t in document["trail"] if t["kind"] == "status-escalated"]
    assert change["actor"] == "carol" and change["details"]["channel"] == "cli"
    assert change["details"]["origin"].startswith("cli:")
    # --by is a claim; the trail keeps the caller's IAM identity beside it (moto's caller here)
    assert change["details"]["principal"].startswith("arn:aws:")
    code, out = run(capsys, "show", *WHERE, "inc-00000")
    assert "status-escalated" in out and "carol" in out
    assert run(capsys, "show", *WHERE, "inc-nope")[0] == 1


def test_stack_name_resolves_the_table(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seed(dynamodb, 5)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TableName": {"Value": TABLE}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="facewatch-dev", TemplateBody=json.dumps(template)
    )
    code, out = run(
        capsys, "incidents", "--stack", "facewatch-dev", "--region", REGION, "--format", "csv"
    )
    assert code == 0 and len(out.splitlines()) == 6


def test_report_ledger_carries_signed_clip_links_from_the_stack(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed(dynamodb, 5)
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="clip-link-key", SecretString="k" * 32
    )["ARN"]
    outputs = {
        "TableName": TABLE,
        "ClipLinkBaseUrl": "https://clips.example",
        "ClipLinkKeySecretArn": secret,
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }  # fmt: skip
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="facewatch-dev", TemplateBody=json.dumps(template)
    )
    out = tmp_path / "r.html"
    where = ["--stack", "facewatch-dev", "--region", REGION]
    code, _ = run(capsys, "report", *where, "--since", "2026-03-01", "--until", "2026-04-01",
                  "--out", str(out))  # fmt: skip
    links = re.findall(r'href="https://clips\.example/clips/([^?"]+)\?exp=(\d+)&amp;sig=([^"]+)"',
                       out.read_text())  # fmt: skip
    assert code == 0 and len(links) == 5
    for incident, exp, sig in links:
        assert verify_clip_link(incident, exp, sig, b"k" * 32, time.time()) == int(exp)


def test_parse_time_forms() -> None:
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    assert parse_time("7d", now) == datetime(2026, 5, 3, 12, tzinfo=UTC)
    assert parse_time("90m", now) == datetime(2026, 5, 10, 10, 30, tzinfo=UTC)
    assert parse_time("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_time("2026-05-01T08:00:00+02:00").astimezone(UTC).hour == 6
    with pytest.raises(Exception, match="not a time"):
        parse_time("yesterday")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: `make browser-deps` installs it")
    pytest.skip("chromium not installed (make browser-deps)")


def _dump_dom(page: Path, tmp_path: Path) -> str:
    result = subprocess.run(  # the browser itself is what is tested here
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_report_renders_the_chart_in_a_browser(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seeded = seed(dynamodb, 400)
    for n, (action, at) in enumerate(
        (("enrolled", "2026-03-03T09:00:00.000Z"), ("removed", "2026-03-09T17:30:00.000Z"))
    ):
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item(
                {
                    "PK": f"EMPLOYEE#e{n}",
                    "SK": f"EVENT#{at}",
                    "GSI1PK": "EMPLOYEES",
                    "GSI1SK": f"{at}#e{n}",
                    "action": action,
                    "actor": "hr-admin",
                }
            ),
        )
    out = tmp_path / "report.html"
    code, printed = run(
        capsys,
        "report",
        *WHERE,
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-15",
        "--out",
        str(out),
    )
    in_period = seeded.where(since=T0, until=T0 + 14 * DAY)
    assert code == 0 and f"{len(in_period)} incidents" in printed

    dom = _dump_dom(out, tmp_path)
    bars = re.findall(
        r'<rect class="bar" data-site="([^"]+)" data-day="([^"]+)" data-count="(\d+)"', dom
    )
    assert bars, "the chart has no bars in the rendered DOM"
    assert sum(int(count) for _, _, count in bars) == len(in_period)
    per_site = Counter(i["site"] for i in in_period)
    for site, total in per_site.items():
        assert sum(int(c) for s, _, c in bars if s == site) == total
    assert {day for _, day, _ in bars} <= {f"2026-03-{d:02d}" for d in range(1, 15)}
    assert 'id="incidents-chart"' in dom
    assert "1 enrolled, 1 removed" in dom
    false_alarm_cameras = re.search(r'<table id="cameras">.*?</table>', dom, re.S)
    assert false_alarm_cameras and "%" in false_alarm_cameras[0]
    assert "http://" not in out.read_text().replace("http://www.w3.org/2000/svg", "")


def test_report_prints_to_pdf_and_screenshots_in_chromium(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _chromium()
    seed(dynamodb, 120)
    out, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    period = ["--since", "2026-03-01", "--until", "2026-03-15"]
    code, printed = run(capsys, "report", *WHERE, *period, "--out", str(out), "--pdf", str(pdf))
    assert code == 0 and "printed by headless Chromium" in printed
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF-") and document.count(b"/Type /Page") >= 1

    png = tmp_path / "report.png"
    screenshot(out, png, width=1200, height=900)
    with Image.open(png) as shot:
        rgb = shot.convert("RGB")
        assert rgb.size == (1200, 900)
        colours = {rgb.getpixel((x, y)) for x in range(0, 1200, 7) for y in range(0, 900, 7)}
    # the bars are drawn in the sites' colours (a blank or unstyled page has none of them)
    site_rgb = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in PALETTE[:2]}
    assert site_rgb & colours, "no bar of the chart was painted"
    assert len(colours) > 20


def test_report_rejects_an_empty_period(
    dynamodb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "report", *WHERE, "--since", "2026-03-02", "--until", "2026-03-01"]
    assert main([*argv, "--out", str(tmp_path / "r.html")]) == 1
    assert "--until must be after --since" in capsys.readouterr().err


def test_endpoint_url_reaches_a_local_moto_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Local mode: the CLI talks to whatever --endpoint-url names (moto server here)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        create_table(client)
        seed(client, 12)
        code, out = run(capsys, "incidents", *WHERE, "--endpoint-url", endpoint, "--format", "csv")
    finally:
        server.stop()
    assert code == 0 and len(out.splitlines()) == 13


def test_a_missing_table_is_one_clear_line(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "incidents", "--table", "nope", "--region", REGION]) == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err
