"""Acknowledge, false alarm, escalate: a recorded Slack click, from the clicks queue to the trail.

``slack_requests`` authenticated, authorised and recorded the click and Slack has its answer;
the slack_clicks function applies it here:

1. Each button press appends a status change (``IncidentHistory.change_status``).
2. The message is replaced in place (``response_url``) with the incident's current status.
3. An applied change is published as ``Incident Status Changed``; Escalate also sends an SMS to
   the escalation topic with a signed clip link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from facewatch.alerts.bus import BusEvent, EventPublisher
from facewatch.alerts.slack.messages import escape
from facewatch.audit.history import (
    IncidentHistory,
    IncidentNotFoundError,
    IncidentRecord,
    StatusChange,
)
from facewatch.audit.lifecycle import (
    ACTIONABLE,
    SLACK_ACTIONS,
    STATUS_CHANGED_DETAIL_TYPE,
    STATUS_LABELS,
    Actor,
    StatusChangedDetail,
)
from facewatch.audit.slack_requests import BlockActionsPayload, SlackMessage
from facewatch.clips.links import sign_clip_link
from facewatch.observability import MetricUnit, logger, metrics
from facewatch.timestamps import to_datetime

# A Slack user id as Slack issues it: only such an id is rendered as a mention.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def actor_of(payload: BlockActionsPayload) -> Actor:
    where = "/".join(p for p in (payload.team_id, payload.channel_id) if p)
    return Actor(
        id=payload.user.id,
        name=payload.user.username or payload.user.name,
        channel="slack",
        origin=f"slack:{where}" if where else "slack",
    )


# ---- effects ----------------------------------------------------------------------------------
class MessageResponder(Protocol):
    def replace(self, response_url: str, text: str, blocks: Sequence[dict[str, Any]]) -> None: ...


class WebhookResponder:
    """slack_sdk WebhookClient on the payload's response_url (it handles retries)."""

    def __init__(self, client_for: Callable[[str], Any]) -> None:
        self._client_for = client_for

    def replace(self, response_url: str, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        response = self._client_for(response_url).send(
            text=text, blocks=list(blocks), replace_original=True
        )
        if response.status_code != 200:
            raise RuntimeError(f"Slack response_url answered {response.status_code}")


class Escalation(Protocol):
    def escalate(self, message: str, incident_id: str) -> None: ...


class SnsEscalation:
    """SMS to the escalation topic's subscribers (the topic is encrypted with the stack's key)."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def escalate(self, message: str, incident_id: str) -> None:
        self._client.publish(
            TopicArn=self._topic,
            Message=message,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                "incidentId": {"DataType": "String", "StringValue": incident_id},
            },
        )


@dataclass(frozen=True, slots=True)
class SlackActionDeps:
    history: IncidentHistory
    responder: MessageResponder
    publisher: EventPublisher
    escalation: Escalation
    clip_link_key: Callable[[], bytes]
    clip_link_ttl_seconds: int = 30 * 86400


# ---- rendering ---------------------------------------------------------------------------------
_ICONS = {
    "open": ":red_circle:",
    "acknowledged": ":white_check_mark:",
    "false_alarm": ":heavy_minus_sign:",
    "escalated": ":rotating_light:",
}


_STATUS_SEPARATOR = " | status: "


def status_line(change: StatusChange, actor: Actor) -> str:
    incident = change.incident
    label = STATUS_LABELS[incident.status]
    when = (
        incident.status_changed_at.strftime("%Y-%m-%d %H:%M UTC")
        if incident.status_changed_at
        else ""
    )
    # Everything user-supplied is escaped: a name like "<!channel>" must not notify anyone.
    if change.applied and _SLACK_USER_ID.fullmatch(actor.id):
        who = f"<@{actor.id}>"
    else:
        who = escape((actor.id if change.applied else incident.status_changed_by) or "someone")
    line = f"{_ICONS[incident.status]} *{label}* by {who} {when}".rstrip()
    if change.conflict:
        line += f" (your click was not applied: it is already {label.lower()})"
    return line


def updated_message(
    original: SlackMessage | None, change: StatusChange, actor: Actor
) -> tuple[str, list[dict[str, Any]]]:
    """The original blocks with the buttons kept only while someone still has to act."""
    line = status_line(change, actor)
    keep_buttons = change.incident.status in ACTIONABLE
    blocks: list[dict[str, Any]] = []
    for block in original.blocks if original else []:
        if block.get("block_id") == "facewatch_status":
            continue  # our earlier status line: the message shows only the current status
        if block.get("type") == "actions" and not keep_buttons:
            # Lifecycle buttons go; others (the "Open clip" link button) stay.
            elements = [
                e for e in block.get("elements", []) if e.get("action_id") not in SLACK_ACTIONS
            ]
            if not elements:
                continue
            block = {**block, "elements": elements}  # noqa: PLW2901 - a changed copy
        blocks.append(block)
    blocks.append(
        {
            "type": "context",
            "block_id": "facewatch_status",
            "elements": [{"type": "mrkdwn", "text": line}],
        }
    )
    # The notification text too, without the status we appended last time.
    base = (original.text if original and original.text else "facewatch incident").split(
        _STATUS_SEPARATOR
    )[0]
    return f"{base}{_STATUS_SEPARATOR}{line}", blocks


def escalation_sms(incident: IncidentRecord, actor: Actor, clip_url: str) -> str:
    """Short on purpose: the signed link carries the evidence, the SMS only the call to act."""
    who = actor.name or actor.id
    seen = incident.first_seen.strftime("%H:%M UTC %d %b")
    return (
        f"facewatch ESCALATED by {who}: unknown person, site {incident.site_id}, camera "
        f"{incident.camera_id}, {seen}. {clip_url}"
    )


# ---- one recorded click ------------------------------------------------------------------------
def apply_click(
    payload: BlockActionsPayload, deps: SlackActionDeps, *, clip_base_url: str, now: float
) -> None:
    """Apply each button of the click; raises only when the trail cannot be read or written
    (the queue redelivers the click; a second delivery is a no-op "already <status>")."""
    for action in payload.actions:
        status = SLACK_ACTIONS.get(action.action_id)
        if status is None:
            # e.g. the "Open clip" link button: Slack posts its click too; nothing to do.
            logger.info("Ignoring Slack action", extra={"actionId": action.action_id})
            metrics.add_metric(name="SlackActionIgnored", unit=MetricUnit.Count, value=1)
            continue
        try:
            change = deps.history.change_status(
                action.value, status, actor_of(payload), now, allowed_from=ACTIONABLE
            )
        except IncidentNotFoundError:
            logger.warning("Slack action on unknown incident", extra={"incidentId": action.value})
            metrics.add_metric(name="SlackActionUnknownIncident", unit=MetricUnit.Count, value=1)
            _respond(
                deps, payload, None, f"Incident {escape(action.value)} is no longer on record."
            )
            continue
        _after_change(deps, payload, change, clip_base_url=clip_base_url, now=now)


def _respond(
    deps: SlackActionDeps,
    payload: BlockActionsPayload,
    change: StatusChange | None,
    text: str | None = None,
    note: str | None = None,
) -> None:
    if not payload.response_url:
        return
    if change is not None:
        text, blocks = updated_message(payload.message, change, actor_of(payload))
    else:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text or ""}}]
    if note:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": note}})
    try:
        deps.responder.replace(payload.response_url, text or "", blocks)
    except Exception:
        # The change is on record; a stale message is the lesser harm than failing the request.
        logger.exception("Could not update the Slack message")
        metrics.add_metric(name="SlackMessageUpdateFailed", unit=MetricUnit.Count, value=1)


def _after_change(
    deps: SlackActionDeps,
    payload: BlockActionsPayload,
    change: StatusChange,
    *,
    clip_base_url: str,
    now: float,
) -> None:
    incident = change.incident
    actor = actor_of(payload)
    logger.info(
        "Incident status change",
        extra={
            "incidentId": incident.incident_id,
            "applied": change.applied,
            "conflict": change.conflict,
            "status": incident.status,
            "actor": actor.id,
        },
    )
    note = None
    if not change.applied:
        metrics.add_metric(name="IncidentStatusNotChanged", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="IncidentStatusChanged", unit=MetricUnit.Count, value=1)
        _publish(deps, change, actor, now)
        if incident.status == "escalated":
            note = _escalate(deps, incident, actor, clip_base_url=clip_base_url, now=now)
    _respond(deps, payload, change, note=note)


def _publish(deps: SlackActionDeps, change: StatusChange, actor: Actor, now: float) -> None:
    incident = change.incident
    detail = StatusChangedDetail(
        incident_id=incident.incident_id,
        camera_id=incident.camera_id,
        site_id=incident.site_id,
        previous_status=change.previous,
        status=incident.status,
        changed_at=to_datetime(now),
        actor=actor,
    )
    failures = deps.publisher.publish(
        [BusEvent(STATUS_CHANGED_DETAIL_TYPE, detail, incident.incident_id)]
    )
    for failure in failures:
        # The trail item is the record; the event is a notification other systems may miss.
        logger.error(
            "Status event not published",
            extra={"incidentId": failure.event.key, "reason": failure.reason},
        )
        metrics.add_metric(name="StatusEventPublishFailed", unit=MetricUnit.Count, value=1)


def _escalate(
    deps: SlackActionDeps,
    incident: IncidentRecord,
    actor: Actor,
    *,
    clip_base_url: str,
    now: float,
) -> str | None:
    """Send the SMS; on failure say so in the Slack message (nobody must believe it was sent)."""
    try:
        url = sign_clip_link(
            clip_base_url,
            incident.incident_id,
            int(now) + deps.clip_link_ttl_seconds,
            deps.clip_link_key(),
        )
        deps.escalation.escalate(escalation_sms(incident, actor, url), incident.incident_id)
    except Exception:
        logger.exception("Escalation SMS failed", extra={"incidentId": incident.incident_id})
        metrics.add_metric(name="EscalationFailed", unit=MetricUnit.Count, value=1)
        return ":warning: *The escalation SMS could not be sent.* Call the escalation list."
    return ":iphone: Escalation SMS sent."
