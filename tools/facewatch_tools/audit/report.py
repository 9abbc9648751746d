"""The audit report: one self-contained HTML file (inline SVG chart, no script, no CDN).

Built in one pass over the period's incidents and employee events, keeping only aggregates,
so a year of history does not have to fit in memory as items.
"""

from __future__ import annotations

import colorsys
import html
import math
import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from facewatch.audit.history import EmployeeEvent, IncidentRecord
from facewatch.audit.lifecycle import STATUS_LABELS, STATUSES

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WEEKLY_AFTER_DAYS = 60  # past this a bar per day is unreadable: one bar per ISO week
MIN_CAMERA_INCIDENTS = 5  # a camera with fewer is not a false-alarm rate worth ranking
LEDGER_LIMIT = 2000  # the newest incidents listed; `audit incidents --output csv` has them all


def site_colours(count: int) -> list[str]:
    """Distinct colours for ``count`` sites: the palette, then golden-angle hues (no repeats)."""
    if count <= len(PALETTE):
        return list(PALETTE[:count])
    colours = []
    for n in range(count):
        hue = (n * 0.618033988749895) % 1.0
        lightness = (0.38, 0.52, 0.66)[n % 3]
        r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.7)
        colours.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return colours


def nice_ticks(peak: int) -> list[int]:
    """Integer axis ticks 0..>=peak on a 1-2-5 step, at most about five of them."""
    if peak <= 0:
        return [0, 1]
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    top = math.ceil(peak / step) * step
    return list(range(0, top + 1, step))


@dataclass(frozen=True, slots=True)
class LedgerRow:
    incident_id: str
    site_id: str
    camera_id: str
    first_seen: datetime
    status: str
    responded_by: str | None
    responded_at: datetime | None
    band: str | None
    erased: bool


@dataclass
class CameraTally:
    site_id: str
    incidents: int = 0
    false_alarms: int = 0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.incidents if self.incidents else 0.0


@dataclass
class ReportData:
    since: datetime
    until: datetime
    per_site_day: dict[str, Counter[date]] = field(default_factory=lambda: defaultdict(Counter))
    statuses: Counter[str] = field(default_factory=Counter)
    cameras: dict[str, CameraTally] = field(default_factory=dict)
    response_seconds: list[float] = field(default_factory=list)
    unanswered: int = 0
    employees: list[EmployeeEvent] = field(default_factory=list)
    ledger: deque[LedgerRow] = field(default_factory=lambda: deque(maxlen=LEDGER_LIMIT))

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def days(self) -> list[date]:
        first, last = self.since.date(), (self.until - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    @property
    def weekly(self) -> bool:
        return len(self.days()) > WEEKLY_AFTER_DAYS

    def buckets(self) -> list[date]:
        """The chart's bars: days, or the Monday of each ISO week past WEEKLY_AFTER_DAYS."""
        days = self.days()
        return sorted({_week(d) for d in days}) if self.weekly else days

    def count(self, site: str, bucket: date) -> int:
        per_day = self.per_site_day[site]
        if not self.weekly:
            return per_day[bucket]
        return sum(per_day[bucket + timedelta(days=n)] for n in range(7))

    def employee_counts(self) -> Counter[str]:
        return Counter(e.action for e in self.employees)


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def collect(
    since: datetime,
    until: datetime,
    incidents: Iterable[IncidentRecord],
    employees: Iterable[EmployeeEvent],
) -> ReportData:
    data = ReportData(since=since, until=until)
    for incident in incidents:
        data.ledger.append(
            LedgerRow(
                incident_id=incident.incident_id,
                site_id=incident.site_id,
                camera_id=incident.camera_id,
                first_seen=incident.first_seen,
                status=incident.status,
                responded_by=incident.first_response_by,
                responded_at=incident.first_response_at,
                band=getattr(incident, "band", None),
                erased=bool(getattr(incident, "erased", False)),
            )
        )
        data.per_site_day[incident.site_id][incident.first_seen.astimezone(UTC).date()] += 1
        data.statuses[incident.status] += 1
        tally = data.cameras.setdefault(incident.camera_id, CameraTally(incident.site_id))
        tally.incidents += 1
        tally.false_alarms += incident.status == "false_alarm"
        if incident.first_response_at is not None:
            # From the alert (when the operator could first see it), else from the detection.
            start = incident.alerted_at or incident.first_seen
            data.response_seconds.append((incident.first_response_at - start).total_seconds())
        else:
            data.unanswered += 1
    data.employees = list(employees)
    return data


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def chart_svg(data: ReportData, width: int = 960, height: int = 320) -> str:
    """Stacked bars: incidents per day (per week past 60 days), one colour per site."""
    days = data.buckets()
    sites = sorted(data.per_site_day)
    colours = site_colours(len(sites))
    totals = [sum(data.count(s, d) for s in sites) for d in days]
    ticks = nice_ticks(max(totals, default=0))
    peak = ticks[-1]
    left, bottom, top = 48, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    step = plot_w / max(len(days), 1)
    bar_w = max(step * 0.8, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="incidents-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>Incidents per site and {'week' if data.weekly else 'day'}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        'stroke="#9ca3af"/>',
    ]
    for tick in ticks:
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>'
        )
    label_every = max(1, len(days) // 12)
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        y = float(top + plot_h)
        for s_index, site in enumerate(sites):
            count = data.count(site, day)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect class="bar" data-site="{html.escape(site)}" data-day="{day}" '
                f'data-count="{count}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colours[s_index]}">'
                f"<title>{html.escape(site)} {day}: {count}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="10">{day:%m-%d}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{colours[i]}"></i>{html.escape(site)}</span>'
        for i, site in enumerate(sites)
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def _table(headers: list[str], rows: Iterable[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_LABELS: dict[str, str] = {str(k): v for k, v in STATUS_LABELS.items()}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def ledger_table(
    data: ReportData,
    site_zones: Mapping[str, str],
    clip_link: Callable[[str], str] | None,
) -> str:
    """Newest first: who was seen where and when, what was done, the clip, erasures."""
    rows = []
    for row in reversed(data.ledger):
        zone = _zone(site_zones.get(row.site_id))
        local = row.first_seen.astimezone(zone)
        responded = (
            f"{row.responded_by or '?'} at {row.responded_at.astimezone(zone):%Y-%m-%d %H:%M}"
            if row.responded_at
            else "nobody yet"
        )
        if row.erased:
            clip = "erased"
        elif clip_link is not None:
            url = html.escape(clip_link(row.incident_id), quote=True)
            clip = f'<a href="{url}">clip</a>'
        else:
            clip = ""
        cells = [
            html.escape(row.incident_id),
            html.escape(row.site_id),
            html.escape(row.camera_id),
            f"{local:%Y-%m-%d %H:%M} {html.escape(local.tzname() or '')}",
            html.escape(row.band or "unknown"),
            html.escape(_LABELS.get(row.status, row.status)),
            html.escape(responded),
            clip,
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    headers = ["Incident", "Site", "Camera", "First seen (site time)", "Band", "Status"]
    head = "".join(f"<th>{h}</th>" for h in [*headers, "Responded", "Clip"])
    listed = len(data.ledger)
    note = (
        f"<p>The newest {listed} of {data.total} incidents; `facewatch audit incidents "
        "--output csv` lists them all.</p>"
        if listed < data.total
        else ""
    )
    return (
        f'{note}<table id="ledger"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(
    data: ReportData,
    generated_at: datetime,
    source: str,
    *,
    min_camera_incidents: int = MIN_CAMERA_INCIDENTS,
    site_zones: Mapping[str, str] | None = None,
    clip_link: Callable[[str], str] | None = None,
) -> str:
    e = html.escape
    period = f"{data.since:%Y-%m-%d %H:%M} - {data.until:%Y-%m-%d %H:%M} UTC"
    status_rows = [[STATUS_LABELS[s], str(data.statuses[s])] for s in STATUSES]
    if data.response_seconds:
        values = data.response_seconds
        response = (
            f"<p>{len(values)} incidents answered: median {_duration(statistics.median(values))}, "
            f"90th percentile {_duration(_percentile(values, 0.9))}, "
            f"slowest {_duration(max(values))}. {data.unanswered} not answered.</p>"
        )
    else:
        response = f"<p>No incident was answered in the period ({data.unanswered} open).</p>"
    # Only cameras with enough incidents for a rate to mean something, most false alarms first.
    ranked = sorted(
        (kv for kv in data.cameras.items() if kv[1].incidents >= min_camera_incidents),
        key=lambda kv: (-kv[1].false_alarms, -kv[1].false_alarm_rate, kv[0]),
    )
    camera_rows = [
        [cam, t.site_id, str(t.incidents), str(t.false_alarms), f"{t.false_alarm_rate:.0%}"]
        for cam, t in ranked
    ]
    fewer = len(data.cameras) - len(ranked)
    counts = data.employee_counts()
    employee_rows = [
        [f"{ev.at:%Y-%m-%d %H:%M}", ev.employee_id, ev.action, ev.actor or ""]
        for ev in data.employees
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>facewatch audit report {e(period)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2rem; color: #111827; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem; }}
th, td {{ border: 1px solid #d1d5db; padding: .25rem .6rem; text-align: left; }}
.legend .key {{ margin-right: 1rem; }}
.legend i {{ display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; }}
@media print {{ body {{ margin: 0; }} h2 {{ break-after: avoid; }} tr {{ break-inside: avoid; }} }}
</style></head><body>
<h1>facewatch audit report</h1>
<p>Period: {e(period)}. Source: {e(source)}. Generated {generated_at:%Y-%m-%d %H:%M} UTC.
Incidents are counted by the time of their first detection.</p>
<h2>Incidents per site and {"week" if data.weekly else "day"} ({data.total} in total)</h2>
{chart_svg(data)}
<h2>Status now</h2>
{_table(["Status", "Incidents"], status_rows, "statuses")}
<h2>Time to acknowledge (first operator response: acknowledge, false alarm or escalate)</h2>
{response}
<h2>False alarms per camera (cameras with {min_camera_incidents} or more incidents)</h2>
{_table(["Camera", "Site", "Incidents", "False alarms", "Rate"], camera_rows, "cameras")}
<p>{fewer} camera(s) with fewer incidents are not ranked.</p>
<h2>Incident ledger</h2>
{ledger_table(data, site_zones or {}, clip_link)}
<h2>Employees enrolled and removed</h2>
<p>{counts["enrolled"]} enrolled, {counts["removed"]} removed, {counts["updated"]} updated.</p>
{_table(["When (UTC)", "Employee", "Action", "By"], employee_rows, "employees")}
</body></html>
"""
