"""The demo's results: a text table for the terminal and an HTML page a reader can skim.

Slack messages are rendered from their Block Kit blocks (header, section, fields, context,
image, actions, divider) the way Slack lays them out, in plain HTML.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from facewatch_tools.local.eventbridge import BusEvent
from facewatch_tools.local.outcome import IncidentRow
from facewatch_tools.local.slack_sink import SlackPost


@dataclass(slots=True)
class Latencies:
    to_alert: list[float] = field(default_factory=list)  # record put -> alert event on the bus
    to_slack: list[float] = field(default_factory=list)  # record put -> Slack message received


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return cuts[int(pct) - 1]


def summary(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s (n={len(values)})"
    )


def incident_table(rows: Sequence[IncidentRow]) -> str:
    header = ("incident", "camera", "first seen (UTC)", "last seen", "frames", "alerted", "closest")
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.incident_id,
                r.camera_id,
                r.first_seen.replace("T", " ").removesuffix("Z"),
                r.last_seen[11:].removesuffix("Z"),
                str(r.detections),
                "yes" if r.alerted else "no",
                r.closest_employee or "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


# ---- Slack mrkdwn and Block Kit to HTML ----------------------------------------------------------
_LINK = re.compile(r"<((?:https?://|mailto:)[^|>\s]+)(?:\|([^>]+))?>")


def _format(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w/])_([^_\n]+)_(?!\w)", r"<i>\1</i>", out)
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", out)


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (bold, italic, code, <url|label> links) as HTML; everything else escaped."""
    parts: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        parts.append(_format(text[last : match.start()]))
        url, label = match.group(1), match.group(2) or match.group(1)
        parts.append(f'<a href="{html.escape(url)}">{_format(label)}</a>')
        last = match.end()
    parts.append(_format(text[last:]))
    return "".join(parts).replace("\n", "<br>")


# Slack draws its emoji itself; a report page has only the machine's fonts, and a headless
# Chromium (CI, servers) has no colour-emoji font: each would be an empty box. These text
# symbols are in DejaVu Sans, which every Chromium install brings.
_EMOJI_STANDINS = {"🚨": "⚠", "📷": "◉", "✅": "✓", "⚠️": "⚠", "🔁": "↻", "⏰": "◷"}
_EMOJI_PLANE = 0x1F000  # pictographs and emoji: no font for them is guaranteed


def printable(text: str) -> str:
    """The text with emoji replaced by symbols every browser font has (see _EMOJI_STANDINS)."""
    for emoji, standin in _EMOJI_STANDINS.items():
        text = text.replace(emoji, standin)
    return "".join("◆" if ord(c) >= _EMOJI_PLANE else c for c in text).replace("\ufe0f", "")


def _text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    text = printable(str(obj.get("text", "")))
    return mrkdwn(text) if obj.get("type") == "mrkdwn" else html.escape(text)


def _section(block: dict[str, Any]) -> str:
    parts = [f"<p>{_text(block.get('text'))}</p>"] if block.get("text") else []
    fields = block.get("fields") or []
    if fields:
        cells = "".join(f"<div>{_text(f)}</div>" for f in fields)
        parts.append(f'<div class="fields">{cells}</div>')
    accessory = block.get("accessory") or {}
    if accessory.get("type") == "image":
        parts.append(f'<img src="{html.escape(accessory.get("image_url", ""))}" alt="">')
    if accessory.get("type") == "button":
        parts.append(_button(accessory))
    return "".join(parts)


def _image(block: dict[str, Any]) -> str:
    source = html.escape(block.get("image_url", ""))
    return f'<img src="{source}" alt="{html.escape(block.get("alt_text", ""))}">'


def _context(block: dict[str, Any]) -> str:
    items = "".join(f"<span>{_text(e)}</span>" for e in block.get("elements") or [])
    return f'<div class="context">{items}</div>'


def _actions(block: dict[str, Any]) -> str:
    buttons = "".join(_button(e) for e in block.get("elements") or [])
    return f'<div class="actions">{buttons}</div>'


_BLOCKS: dict[str, Any] = {
    "header": lambda block: f"<h3>{_text(block.get('text'))}</h3>",
    "divider": lambda _block: "<hr>",
    "section": _section,
    "context": _context,
    "actions": _actions,
    "image": _image,
}


def render_block(block: dict[str, Any]) -> str:
    render = _BLOCKS.get(str(block.get("type")))
    return str(render(block)) if render else f"<pre>{html.escape(str(block))}</pre>"


def _button(element: dict[str, Any]) -> str:
    label = _text(element.get("text")) or "button"
    url = element.get("url")
    if url:
        return f'<a class="button" href="{html.escape(url)}">{label}</a>'
    return f'<span class="button">{label}</span>'


def render_slack(post: SlackPost) -> str:
    payload = post.payload
    blocks = list(payload.get("blocks") or [])
    for attachment in payload.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    body = (
        "".join(render_block(b) for b in blocks) or f"<p>{mrkdwn(str(payload.get('text', '')))}</p>"
    )
    who = f"facewatch <span>APP</span> &middot; #{html.escape(post.route)}"
    return f'<div class="slack"><div class="who">{who}</div>{body}</div>'


_STYLE = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#1d1c1d}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.yes{color:#b00020;font-weight:600}
.slack{border:1px solid #ddd;border-radius:8px;padding:10px 14px;margin:10px 0;max-width:640px}
.who{font-weight:700}.who span{font-size:10px;background:#eee;padding:1px 3px}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
.context{color:#616061;font-size:12px}.context span{margin-right:8px}
.button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 10px;
margin-right:6px;text-decoration:none;color:#1d1c1d}img{max-width:120px}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-width:900px}
"""


def _incident_row(row: IncidentRow) -> str:
    status = "alerted" if row.alerted else "below threshold"
    clip = f'<a href="{html.escape(row.clip_url)}">clip</a>' if row.clip_url else ""
    cells = [
        html.escape(row.incident_id),
        html.escape(row.camera_id),
        row.first_seen,
        row.last_seen,
        str(row.detections),
        f'<span class="{"yes" if row.alerted else "no"}">{status}</span>',
        html.escape(row.closest_employee or ""),
        clip,
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def html_report(
    *,
    title: str,
    incidents: Sequence[IncidentRow],
    slack: Sequence[SlackPost],
    sms: Sequence[tuple[str, str]],
    alerts: Sequence[BusEvent],
    latencies: Latencies,
    notes: Sequence[str] = (),
) -> str:
    rows = "".join(_incident_row(r) for r in incidents)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>Record to alert event: {summary(latencies.to_alert)}<br>"
        f"Record to Slack message: {summary(latencies.to_slack)}</p>",
        *(f"<p><i>{html.escape(n)}</i></p>" for n in notes),
        "<h2>Incidents</h2><table><tr><th>Incident</th><th>Camera</th><th>First seen (UTC)</th>"
        "<th>Last seen</th><th>Frames</th><th>Status</th><th>Closest employee</th><th>Clip</th>"
        f"</tr>{rows}</table>",
        f"<h2>Slack ({len(slack)})</h2>",
        *(render_slack(p) for p in slack),
        f"<h2>SMS ({len(sms)})</h2><ul>",
        *(f"<li><b>{html.escape(phone)}</b>: {html.escape(text)}</li>" for phone, text in sms),
        "</ul>",
    ]
    if not slack:
        parts.append(f"<h2>Alert events on the bus ({len(alerts)})</h2>")
        parts += [f"<pre>{html.escape(_pretty(e.event))}</pre>" for e in alerts]
    parts.append("</body></html>")
    return "\n".join(parts)


def _pretty(event: dict[str, Any]) -> str:
    import json  # noqa: PLC0415

    return json.dumps(event, indent=2, default=str)
