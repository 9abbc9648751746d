"""The report's arithmetic, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from facewatch.audit.history import EmployeeEvent, IncidentRecord
from facewatch.audit.lifecycle import Status
from facewatch_tools.audit.report import chart_svg, collect, render_html

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=3)


def record(
    n: int, camera: str, status: Status, day: int, response_s: float | None
) -> IncidentRecord:
    first = SINCE + timedelta(days=day, hours=1)
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
    page = render_html(data, SINCE, "test")
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
