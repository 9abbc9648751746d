"""Slack Block Kit messages for alerts and camera-health changes (pure; no I/O).

Blocks are built with slack_sdk's block models, whose ``to_dict`` checks Slack's limits (a bad
length or a missing field raises here, not as an ``invalid_blocks`` answer from Slack).
The three incident buttons carry the incident id; the audit API handles their clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def alert_message(view: AlertView) -> SlackMessage:
    when = f"{view.started:%a %d %b %Y, %H:%M:%S} {view.zone_label}"
    fields = [
        _field("Site", escape(view.site) if view.site else "_not in the camera registry_"),
        _field("Zone", escape(view.zone) if view.zone else "-"),
        _field("Camera", f"{escape(view.camera)}\n`{escape(view.camera_id)}`"),
        _field("First seen", when),
        _field(
            "Detections",
            f"{view.detections} over {format_duration(view.duration)}",
        ),
        _field("Face confidence", f"{view.confidence:.1f}%"),
    ]
    if view.hint:
        fields.append(_field("Low priority", escape(view.hint)))
    elif view.closest:
        fields.append(
            _field(
                "Closest employee (below threshold)",
                f"closest: {escape(view.closest.employee_id)} at {view.closest.similarity:.0f}%",
            )
        )
    blocks: list[Block] = [
        _header(f"🚨 Unknown face at {view.place}"),
        SectionBlock(fields=fields),
    ]
    if view.snapshot_url:
        blocks.append(
            ImageBlock(
                image_url=view.snapshot_url,
                alt_text=f"Camera frame at the first detection, {view.camera}",
            )
        )
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
    buttons += [
        ButtonElement(
            text=PlainTextObject(text="Acknowledge"),
            action_id=ACKNOWLEDGE,
            value=view.incident_id,
            style="primary",
        ),
        ButtonElement(
            text=PlainTextObject(text="False alarm"),
            action_id=FALSE_ALARM,
            value=view.incident_id,
        ),
        ButtonElement(
            text=PlainTextObject(text="Escalate"),
            action_id=ESCALATE,
            value=view.incident_id,
            style="danger",
        ),
    ]
    blocks.append(ActionsBlock(block_id=f"incident:{view.incident_id}", elements=buttons))
    context = [f"Incident `{escape(view.incident_id)}`"]
    if not view.clip_link:
        context.append("clip unavailable")
    if not view.snapshot_url:
        context.append("no snapshot")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    text = (
        f"Unknown face at {escape(view.place)}, {view.started:%H:%M} {view.zone_label} "
        f"({view.detections} detections, incident {escape(view.incident_id)})"
    )
    return SlackMessage(text=text, blocks=_render(blocks))


class CameraHealthNotice(ContractModel):
    """The fields of a ``Camera Health Changed`` detail this notifier reads (tolerant reader:
    the fleet's model may carry more)."""

    camera_id: str
    site_id: str | None = None
    state: str
    previous_state: str | None = None
    reason: str | None = None
    at: datetime
    time_zone: str = "UTC"
    test: bool = False

    @property
    def healthy(self) -> bool:
        return self.state.upper() in HEALTHY_STATES


def health_message(notice: CameraHealthNotice) -> SlackMessage:
    at = notice.at if notice.at.tzinfo else notice.at.replace(tzinfo=UTC)
    local, zone_label = site_time(at, notice.time_zone)
    icon = "✅" if notice.healthy else "📷"
    change = (
        f"{escape(notice.previous_state)} → {escape(notice.state)}"
        if notice.previous_state
        else escape(notice.state)
    )
    fields = [
        _field("Camera", f"`{escape(notice.camera_id)}`"),
        _field("Site", escape(notice.site_id) if notice.site_id else "-"),
        _field("State", change),
        _field("Since", f"{local:%a %d %b %Y, %H:%M:%S} {zone_label}"),
    ]
    blocks: list[Block] = [
        _header(f"{icon} Camera {notice.state.lower()}: {notice.camera_id}"),
        SectionBlock(fields=fields),
    ]
    if notice.reason:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=escape(notice.reason))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="facewatch camera health")]))
    text = escape(
        f"Camera {notice.camera_id} is {notice.state}"
        + (f": {notice.reason}" if notice.reason else "")
    )
    return SlackMessage(text=text, blocks=_render(blocks))
