"""Slack Block Kit messages for alerts and camera-health changes (pure; no I/O).

Blocks are built with slack_sdk's block models, whose ``to_dict`` checks Slack's limits (a bad
length or a missing field raises here, not as an ``invalid_blocks`` answer from Slack).
The three incident buttons carry the incident id; the audit API handles their clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import model_validator
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    ImageBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from facewatch.alerts.event import ContractModel
from facewatch.alerts.view import AlertView, format_duration, site_time

ACKNOWLEDGE = "incident_acknowledge"
FALSE_ALARM = "incident_false_alarm"
ESCALATE = "incident_escalate"
OPEN_CLIP = "incident_open_clip"
HEADER_LIMIT = 150
HEALTH_DETAIL_TYPE = "Camera Health Changed"
HEALTHY_STATES = frozenset({"ONLINE", "HEALTHY", "OK", "RUNNING"})


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str  # the notification and screen-reader text
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Slack mrkdwn control characters (display names are user input)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(text: str) -> HeaderBlock:
    if len(text) > HEADER_LIMIT:
        text = text[: HEADER_LIMIT - 1] + "…"
    return HeaderBlock(text=PlainTextObject(text=text, emoji=True))


def _field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=f"*{label}*\n{value}")


def _render(blocks: list[Block]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]  # to_dict validates every block


# Statuses as the incident lifecycle names them ("Incident Status Changed").
ACTIONABLE = frozenset({"open", "escalated"})
STATUS_BLOCK_ID = "facewatch_status"  # the Slack-actions handler replaces this line too
_HEADERS = {  # status -> (icon, title)
    "open": ("🚨", "Unknown face at {place}"),
    "acknowledged": ("✅", "Acknowledged: unknown face at {place}"),
    "false_alarm": ("⚪", "False alarm: unknown face at {place}"),
    "escalated": ("🔺", "Escalated: unknown face at {place}"),
}
_STATUS_LINES = {
    "acknowledged": "✅ *Acknowledged*",
    "false_alarm": "⚪ *False alarm*",
    "escalated": "🔺 *Escalated*",
}


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Where the incident is now; the message is re-rendered from it at every change."""

    status: str = "open"  # open | acknowledged | false_alarm | escalated
    changed_by: str | None = None  # a Slack user id (rendered as a mention) or a name
    merged_into: str | None = None
    ended_after: timedelta | None = None  # set once the visit has ended: its length
    escalated_after_minutes: int | None = None  # auto-escalation: nobody answered in N min
    mention: str = "<!here>"  # who is paged in the first message (routes may drop it)

    @property
    def actionable(self) -> bool:
        return self.status in ACTIONABLE and not self.merged_into


def visit_length(duration: timedelta) -> str:
    """ "3 min", "42 s", "1 h 05 min": how long a visit lasted, as a person says it."""
    seconds = max(0, round(duration.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else format_duration(timedelta(minutes=minutes))


def _who(changed_by: str | None) -> str:
    if not changed_by:
        return ""
    is_slack_user = changed_by[:1] in ("U", "W") and changed_by.isalnum()
    return f" by <@{changed_by}>" if is_slack_user else f" by {escape(changed_by)}"


def _status_line(view: AlertView, state: Lifecycle) -> str | None:
    parts: list[str] = []
    if state.merged_into:
        parts.append(f"🔗 *Merged* into `{escape(state.merged_into)}` (the same visit)")
    if state.status in _STATUS_LINES:
        line = _STATUS_LINES[state.status] + _who(state.changed_by)
        if state.status == "escalated" and state.escalated_after_minutes:
            line += f": no answer within {state.escalated_after_minutes} min"
        parts.append(line)
    if state.ended_after is not None:
        parts.append(f"⏹ Visit ended after {visit_length(state.ended_after)}")
    return " · ".join(parts) or None


def _image(view: AlertView, snapshot_at: datetime | None) -> ImageBlock:
    if snapshot_at is None:
        return ImageBlock(
            image_url=view.snapshot_url,
            alt_text=f"Camera frame at the first detection, {view.camera}",
        )
    at = f"{snapshot_at.astimezone(view.started.tzinfo):%H:%M:%S} {view.zone_label}"
    return ImageBlock(
        image_url=view.snapshot_url,
        alt_text=f"Camera frame with the clearest face so far ({at}), {view.camera}",
        title=PlainTextObject(text=f"Clearest face so far, {at}"),
    )


def alert_message(
    view: AlertView, state: Lifecycle | None = None, *, snapshot_at: datetime | None = None
) -> SlackMessage:
    """``snapshot_at``: the snapshot is a later frame, the clearest face so far (threads.py),
    not the first detection's."""
    state = state or Lifecycle()
    route = view.route
    hint = bool(route and route.hint)
    mention = state.mention if route is None or route.mention else ""
    when = f"{view.started:%a %d %b %Y, %H:%M:%S} {view.zone_label}"
    last = f"{view.last_seen:%H:%M:%S} {view.zone_label}" if view.last_seen else "-"
    fields = [
        _field("Site", escape(view.site) if view.site else "_not in the camera registry_"),
        _field("Zone", escape(view.zone) if view.zone else "-"),
        _field("Camera", f"{escape(view.camera)}\n`{escape(view.camera_id)}`"),
        _field("First seen", when),
        _field("Last seen", last),
        _field(
            "Detections",
            f"{view.detections} frames with an unknown face over {format_duration(view.duration)}",
        ),
        _field("Face", view.face_found),
        _field("Employee match", escape(view.match)),
    ]
    icon, title = _HEADERS.get(state.status, _HEADERS["open"])
    if hint and state.status == "open":
        icon, title = "🟡", "Possible employee at {place}"
    if state.merged_into and state.status == "open":
        icon, title = "🔗", "Merged: unknown face at {place}"
    lead = ("[TEST] " if view.test else "") + title.format(place=view.place)
    blocks: list[Block] = [_header(f"{icon} {lead}")]
    if state.actionable and mention and not view.test:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"{mention} {view.severity} severity"))
        )
    if hint:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"_Low priority: {escape(view.hint or view.match)}."
                    " Perhaps an employee seen side-on or in poor light: check the clip._"
                )
            )
        )
    blocks.append(SectionBlock(fields=fields))
    if view.snapshot_url:
        blocks.append(_image(view, snapshot_at))
    buttons: list[ButtonElement] = []
    if view.clip_link:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="▶ Open clip", emoji=True),
                action_id=OPEN_CLIP,
                url=view.clip_link,
                value=view.incident_id,
            )
        )
    if state.actionable:
        buttons += _lifecycle_buttons(view.incident_id, escalated=state.status == "escalated")
    if buttons:
        blocks.append(ActionsBlock(block_id=f"incident:{view.incident_id}", elements=buttons))
    context = [f"Incident `{escape(view.incident_id)}`", f"{view.severity} severity"]
    if not view.clip_link:
        context.append("clip unavailable")
    if not view.snapshot_url:
        context.append("no snapshot")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    status = _status_line(view, state)
    if status:
        blocks.append(
            ContextBlock(block_id=STATUS_BLOCK_ID, elements=[MarkdownTextObject(text=status)])
        )
    text = (
        f"{escape(lead)}, {view.started:%H:%M} {view.zone_label} "
        f"({view.detections} detections, incident {escape(view.incident_id)})"
    )
    return SlackMessage(text=text, blocks=_render(blocks))


def _lifecycle_buttons(incident_id: str, *, escalated: bool) -> list[ButtonElement]:
    buttons = [
        ButtonElement(
            text=PlainTextObject(text="Acknowledge"),
            action_id=ACKNOWLEDGE,
            value=incident_id,
            style="primary",
        ),
        ButtonElement(
            text=PlainTextObject(text="False alarm"), action_id=FALSE_ALARM, value=incident_id
        ),
    ]
    if not escalated:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Escalate"),
                action_id=ESCALATE,
                value=incident_id,
                style="danger",
            )
        )
    return buttons


HEALTH_WINDOW_SECONDS = 900  # a flapping camera: one message per state in each 15 minutes


class CameraHealthNotice(ContractModel):
    """The fields of a ``Camera Health Changed`` detail this notifier reads (tolerant reader).
    The watchdog publishes the fleet's model (``fleet/health.py``: ``current.status``,
    ``changed_at``, snake_case); the flat form (``state``, ``at``) is read too."""

    camera_id: str
    site_id: str | None = None
    site_name: str | None = None
    display_name: str | None = None
    zone: str | None = None
    state: str
    previous_state: str | None = None
    reason: str | None = None
    at: datetime
    time_zone: str = "UTC"
    test: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_fleet_event(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "current" not in data or "state" in data:
            return data
        current = data.get("current") or {}
        previous = data.get("previous") or {}
        return {
            "camera_id": data.get("camera_id"),
            "site_id": data.get("site_id"),
            "site_name": data.get("site_name"),
            "display_name": data.get("display_name"),
            "zone": data.get("zone"),
            "time_zone": data.get("time_zone") or "UTC",
            "state": current.get("status"),
            "previous_state": previous.get("status"),
            "reason": current.get("reason"),
            "at": data.get("changed_at"),
        }

    @property
    def healthy(self) -> bool:
        return self.state.upper() in HEALTHY_STATES

    @property
    def place(self) -> str:
        camera = self.display_name or self.camera_id
        site = self.site_name or self.site_id
        return f"{site} / {camera}" if site else camera

    def once_key(self) -> str:
        """One message per camera, state and window: a flapping camera does not flood ops."""
        window = int(self.at.timestamp() // HEALTH_WINDOW_SECONDS)
        return f"health#{self.camera_id}#{'up' if self.healthy else 'down'}#{window}"


def health_message(notice: CameraHealthNotice) -> SlackMessage:
    at = notice.at if notice.at.tzinfo else notice.at.replace(tzinfo=UTC)
    local, zone_label = site_time(at, notice.time_zone)
    icon = "✅" if notice.healthy else "📷"
    change = (
        f"{escape(notice.previous_state)} → {escape(notice.state)}"
        if notice.previous_state
        else escape(notice.state)
    )
    camera = escape(notice.display_name) + "\n" if notice.display_name else ""
    fields = [
        _field("Camera", f"{camera}`{escape(notice.camera_id)}`"),
        _field("Site", escape(notice.site_name or notice.site_id or "-")),
        _field("State", change),
        _field("Since", f"{local:%a %d %b %Y, %H:%M:%S} {zone_label}"),
    ]
    blocks: list[Block] = [
        _header(f"{icon} Camera {notice.state.lower()}: {notice.place}"),
        SectionBlock(fields=fields),
    ]
    if notice.reason:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=escape(notice.reason))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="facewatch camera health")]))
    text = escape(
        f"Camera {notice.place} is {notice.state} since {local:%H:%M} {zone_label}"
        + (f": {notice.reason}" if notice.reason else "")
    )
    return SlackMessage(text=text, blocks=_render(blocks))
