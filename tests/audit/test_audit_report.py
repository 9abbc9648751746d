"""The report's arithmetic, without AWS."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from facewatch.audit.history import EmployeeEvent, IncidentRecord
from facewatch.audit.lifecycle import Status
from facewatch_tools.audit.report import (
    chart_svg,
    collect,
    nice_ticks,
    render_html,
    site_colours,
)

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=3)


def record(
    n: int,
    camera: str,
    status: Status,
    day: int,
    response_s: float | None,
    since: datetime = SINCE,
) -> IncidentRecord:
    first = since + timedelta(days=day, hours=1)
    alerted = first + timedelta(seconds=5)
    return IncidentRecord(
        incident_id=f"i{n}",
        camera_id=camera,
        site_id=camera.split("-", maxsplit=1)[0],
        stream_arn="arn:aws:kinesisvideo:eu-west-1:111122223333:stream/x/1",
        first_seen=first,
        last_seen=first,
        detections=2,
        status=status,
        alerted_at=alerted,
        first_response_at=alerted + timedelta(seconds=response_s)
        if response_s is not None
        else None,
    )


def test_rates_durations_and_counts() -> None:
    incidents = [
        record(1, "hq-a", "false_alarm", 0, 60),
        record(2, "hq-a", "acknowledged", 0, 120),
        record(3, "hq-a", "false_alarm", 1, 180),
        record(4, "lab-b", "open", 2, None),
    ]
    employees = [
        EmployeeEvent(employee_id="e1", at=SINCE, action="enrolled"),
        EmployeeEvent(employee_id="e2", at=SINCE, action="removed"),
    ]
    data = collect(SINCE, UNTIL, incidents, employees)
    assert data.total == 4 and data.unanswered == 1
    assert sorted(data.response_seconds) == [60, 120, 180]
    assert round(data.cameras["hq-a"].false_alarm_rate, 3) == 0.667
    assert data.cameras["lab-b"].false_alarm_rate == 0
    assert data.per_site_day["hq"][SINCE.date()] == 2
    page = render_html(data, SINCE, "test", min_camera_incidents=1)
    assert "median 2.0 min" in page and "slowest 3.0 min" in page and "1 not answered" in page
    assert "67%" in page and "1 enrolled, 1 removed" in page


def test_an_empty_period_still_renders() -> None:
    data = collect(SINCE, UNTIL, [], [])
    assert data.days() == [
        SINCE.date(),
        (SINCE + timedelta(days=1)).date(),
        (SINCE + timedelta(days=2)).date(),
    ]
    page = render_html(data, SINCE, "test")
    assert 'id="incidents-chart"' in page and "No incident was answered" in page
    assert 'class="bar"' not in chart_svg(data)


def test_site_names_are_escaped() -> None:
    hostile = record(1, "hq-a", "open", 0, None).model_copy(update={"site_id": "<script>x"})
    page = render_html(collect(SINCE, UNTIL, [hostile], []), SINCE, "test")
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_the_ledger_lists_who_did_what_when_and_the_clip() -> None:
    incidents = [record(1, "hq-a", "acknowledged", 0, 90), record(2, "lab-b", "open", 1, None)]
    data = collect(SINCE, UNTIL, incidents, [])
    page = render_html(
        data,
        SINCE,
        "test",
        site_zones={"hq": "Asia/Seoul"},
        clip_link=lambda incident: f"https://clips.example/{incident}?sig=x&exp=1",
    )
    ledger = re.search(r'<table id="ledger">.*?</table>', page, re.S)
    assert ledger is not None
    rows = re.findall(r"<tr><td>(.*?)</td>", ledger[0])
    assert rows == [incidents[1].incident_id, incidents[0].incident_id]  # newest first
    assert "KST" in ledger[0]  # the site's own time
    assert "nobody yet" in ledger[0]
    assert 'href="https://clips.example/' in ledger[0] and "&amp;exp=1" in ledger[0]


def test_false_alarm_table_ranks_only_cameras_with_enough_incidents() -> None:
    many = [record(n, "hq-a", "false_alarm" if n % 2 else "acknowledged", 0, 60) for n in range(6)]
    one = [record(100, "lab-b", "false_alarm", 0, 60)]
    page = render_html(collect(SINCE, UNTIL, [*many, *one], []), SINCE, "test")
    cameras = re.search(r'<table id="cameras">.*?</table>', page, re.S)
    assert cameras is not None and "hq-a" in cameras[0] and "lab-b" not in cameras[0]
    assert "1 camera(s) with fewer incidents are not ranked" in page


def test_a_year_is_weekly_bars_with_integer_ticks() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    until = datetime(2026, 1, 1, tzinfo=UTC)
    incidents = [record(n, "hq-a", "open", n, None, since=since) for n in range(0, 364, 3)]
    data = collect(since, until, incidents, [])
    assert data.weekly and len(data.buckets()) in (52, 53)
    svg = chart_svg(data)
    assert svg.count('class="bar"') <= 53
    ticks = re.findall(r'text-anchor="end" font-size="11">(\d+)</text>', svg)
    assert ticks == [str(t) for t in nice_ticks(3)] and len(set(ticks)) == len(ticks)


def test_many_sites_get_distinct_colours() -> None:
    colours = site_colours(40)
    assert len(set(colours)) == 40
    assert nice_ticks(1) == [0, 1] and nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(230) == [0, 100, 200, 300]
