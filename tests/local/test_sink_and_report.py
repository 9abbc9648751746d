"""The Slack webhook sink and the HTML rendering of Slack messages."""

from __future__ import annotations

import json
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from facewatch_tools.local.outcome import IncidentRow
from facewatch_tools.local.report import (
    Latencies,
    html_report,
    mrkdwn,
    percentile,
    printable,
    render_block,
)
from facewatch_tools.local.slack_sink import SlackPost, SlackSink


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    started = SlackSink(clock=lambda: 42.0).start()
    yield started
    started.stop()


def _post(url: str, payload: object) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_records_payloads_and_fails_on_demand(sink: SlackSink) -> None:
    assert sink.url("ops").startswith("http://127.0.0.1:")
    sink.fail_next(429, retry_after=3)
    sink.fail_next(500)
    status, headers = _post(sink.url("ops"), {"text": "one"})
    assert (status, headers.get("Retry-After")) == (429, "3")
    assert _post(sink.url("ops"), {"text": "one"})[0] == 500
    assert _post(sink.url("ops"), {"text": "one"})[0] == 200
    assert sink.posts == [SlackPost("/hooks/ops", 42.0, {"text": "one"})]
    assert sink.rejected == 2


def test_block_kit_renders_as_a_reader_sees_it() -> None:
    assert render_block(
        {"type": "header", "text": {"type": "plain_text", "text": "Unknown <face>"}}
    ) == ("<h3>Unknown &lt;face&gt;</h3>")
    section = render_block(
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Lobby* seen <https://x.example/c|clip>"},
            "fields": [{"type": "mrkdwn", "text": "_Camera_"}],
        }
    )
    assert '<b>Lobby</b> seen <a href="https://x.example/c">clip</a>' in section
    assert "<i>Camera</i>" in section
    actions = render_block(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open"},
                    "url": "https://x.example",
                }
            ],
        }
    )
    assert '<a class="button" href="https://x.example">Open</a>' in actions
    assert mrkdwn("a <script>") == "a &lt;script&gt;"


def test_report_lists_incidents_and_messages() -> None:
    row = IncidentRow(
        "INC-1", "cam", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:05.000Z", 4, True, None
    )
    post = SlackPost("/hooks/default", 1.0, {"blocks": [{"type": "divider"}], "text": "x"})
    page = html_report(
        title="t",
        incidents=[row],
        slack=[post],
        sms=[("+82100", "INC-1 at cam")],
        alerts=[],
        latencies=Latencies([1.0, 2.0], []),
    )
    assert "INC-1" in page and "<hr>" in page and "+82100" in page
    assert "p50 1.50 s" in page


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)


def test_latency_runs_from_the_record_that_made_the_incident_alert() -> None:
    from facewatch_tools.local.eventbridge import BusEvent  # noqa: PLC0415
    from facewatch_tools.local.outcome import alert_latencies  # noqa: PLC0415

    first = 1795000000.0
    puts = [
        (first, "cam", True, 100.0),  # opens the incident
        (first + 0.5, "cam", False, 100.2),  # an employee: not a detection
        (first + 1.0, "cam", True, 100.5),  # the 2nd detection: the incident alerts
        (first + 1.5, "cam", True, 100.9),
        (first + 1.0, "other", True, 100.5),
    ]
    alert = BusEvent(
        "bus",
        101.7,
        {
            "detail-type": "Unknown Face Detected",
            "detail": {
                "incidentId": "INC-1",
                "cameraId": "cam",
                "firstSeen": "2026-11-18T11:06:40.000Z",
            },
        },
    )
    assert alert_latencies(puts, [alert], min_detections=2) == {"INC-1": pytest.approx(1.2)}


# Symbols of DejaVu Sans (every Chromium install brings it): the report may use these and
# letters of any script, never a pictograph no font on a headless machine has.
DEJAVU_SYMBOLS = set("·▶⚠◉✓↻◷◆→…\u2013\u2014")  # the last two: en and em dash


def _unprintable(page: str) -> set[str]:
    return {
        c
        for c in page
        if ord(c) > 127 and c not in DEJAVU_SYMBOLS and not unicodedata.category(c).startswith("L")
    }


def test_the_report_has_no_glyph_a_headless_browser_lacks() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "🚨 Unknown face at HQ"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "📷 *서울 본사* offline → ✅ 🦄"}},
    ]
    page = "".join(render_block(b) for b in blocks)
    assert not _unprintable(page), _unprintable(page)
    assert "⚠ Unknown face" in page and "◉" in page and "✓" in page and "서울 본사" in page
    assert printable("✅ ok") == "✓ ok"
