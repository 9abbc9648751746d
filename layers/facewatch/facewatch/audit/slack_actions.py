"""Acknowledge, false alarm, escalate: the alert's Slack buttons, from request to trail.

1. The request's Slack signature is checked (slack_sdk, 5-minute window) and its signature is
   remembered for the window (a conditional put with TTL), so a replayed request is refused.
2. Each button press appends a status change (``IncidentHistory.change_status``).
3. The message is replaced in place (``response_url``) with the incident's current status.
4. An applied change is published as ``Incident Status Changed``; Escalate also sends an SMS to
   the escalation topic with a signed clip link.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier

from facewatch.alerts.bus import BusEvent, EventPublisher
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
from facewatch.clips.links import sign_clip_link
from facewatch.detections.store import to_item
from facewatch.observability import MetricUnit, logger, metrics
from facewatch.timestamps import to_datetime
from facewatch.web import HttpReply

SIGNATURE_WINDOW_SECONDS = 300  # Slack's own rule, also enforced by SignatureVerifier
Rejection = Literal["unsigned", "stale", "bad signature", "replayed"]


# ---- request authenticity ---------------------------------------------------------------------
class ReplayStore(Protocol):
    def first_use(self, signature: str, timestamp: int) -> bool:
        """Record the signature; False if it was already seen within the window."""
        ...


class DynamoReplayStore:
    """PK=SLACKSIG#<signature> SK=SLACKSIG, expiring (TTL) after the signature window."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def first_use(self, signature: str, timestamp: int) -> bool:
        key = f"SLACKSIG#{signature}"
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "PK": key,
                        "SK": "SLACKSIG",
                        "requestTimestamp": timestamp,
                        # TTL deletion is lazy: a late item is harmless, the window still applies.
                        "expiresAt": timestamp + 2 * SIGNATURE_WINDOW_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


class SigningSecretUnavailableError(RuntimeError):
    """The signing secret cannot be read (not set yet after deploy, or no permission)."""


class _InjectedClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackRequestGuard:
    """Signature (slack_sdk), freshness and single use of every request."""

    def __init__(
        self,
        signing_secret: Callable[[], str],
        replays: ReplayStore,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._secret = signing_secret
        self._replays = replays
        self._now = now

    def check(self, body: str, headers: Mapping[str, str]) -> Rejection | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        signature = lowered.get("x-slack-signature", "")
        if not timestamp.isdigit() or not signature:
            return "unsigned"
        if abs(self._now() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            return "stale"
        try:
            secret = self._secret()
        except Exception as exc:
            raise SigningSecretUnavailableError(str(exc)) from exc
        verifier = SignatureVerifier(secret, clock=_InjectedClock(self._now))
        if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            return "bad signature"
        if not self._replays.first_use(signature, int(timestamp)):
            return "replayed"
        return None


# ---- the interactive payload ------------------------------------------------------------------
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Loose):
    id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    name: str | None = None
    team_id: str | None = None


class SlackTeam(_Loose):
    id: str
    domain: str | None = None


class SlackChannel(_Loose):
    id: str
    name: str | None = None


class SlackAction(_Loose):
    action_id: str
    value: str = Field(default="", max_length=128)


class SlackMessage(_Loose):
    text: str | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list)


class BlockActionsPayload(_Loose):
    type: Literal["block_actions"]
    user: SlackUser
    team: SlackTeam | None = None
    channel: SlackChannel | None = None
    response_url: str | None = Field(default=None, pattern=r"^https://hooks\.slack\.com/")
    actions: list[SlackAction] = Field(min_length=1, max_length=5)
    message: SlackMessage | None = None

    def actor(self) -> Actor:
        where = "/".join(
            p for p in (self.team and self.team.id, self.channel and self.channel.id) if p
        )
        return Actor(
            id=self.user.id,
            name=self.user.username or self.user.name,
            channel="slack",
            origin=f"slack:{where}" if where else "slack",
        )


class PayloadError(ValueError):
    """The body is not a block_actions payload we understand (answered 400)."""


def parse_payload(body: str) -> BlockActionsPayload:
    """Slack posts ``application/x-www-form-urlencoded`` with one field, ``payload`` (JSON)."""
    try:
        fields = parse_qs(body, max_num_fields=5)
    except ValueError as exc:  # more fields than a Slack payload has
        raise PayloadError(str(exc)) from exc
    raw = fields.get("payload", [""])[0]
    if not raw:
        raise PayloadError("no payload field")
    try:
        return BlockActionsPayload.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadError(f"not a block_actions payload ({exc.error_count()} problems)") from exc


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
    guard: SlackRequestGuard
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
    who = f"<@{actor.id}>" if change.applied else (incident.status_changed_by or "someone")
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


# ---- the whole request ---------------------------------------------------------------------
def handle_slack_request(
    body: str,
    headers: Mapping[str, str],
    deps: SlackActionDeps,
    *,
    clip_base_url: str,
    now: float,
) -> HttpReply:
    try:
        rejection = deps.guard.check(body, headers)
    except SigningSecretUnavailableError:
        logger.exception("Slack signing secret unavailable: set it in Secrets Manager (README)")
        metrics.add_metric(name="SlackSigningSecretUnavailable", unit=MetricUnit.Count, value=1)
        return HttpReply(status=503, body="not configured")
    if rejection is not None:
        # Never the body: it names people and could be replayed from a log.
        logger.warning("Slack request rejected", extra={"reason": rejection})
        metrics.add_metric(name="SlackRequestRejected", unit=MetricUnit.Count, value=1)
        return HttpReply(status=401, body="invalid request signature")
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        logger.warning("Slack payload not understood", extra={"error": str(exc)})
        metrics.add_metric(name="SlackPayloadRejected", unit=MetricUnit.Count, value=1)
        return HttpReply(status=400, body="unsupported payload")
    for action in payload.actions:
        status = SLACK_ACTIONS.get(action.action_id)
        if status is None:
            # e.g. the "Open clip" link button: Slack posts its click too; 200 is all it needs.
            logger.info("Ignoring Slack action", extra={"actionId": action.action_id})
            metrics.add_metric(name="SlackActionIgnored", unit=MetricUnit.Count, value=1)
            continue
        try:
            change = deps.history.change_status(
                action.value, status, payload.actor(), now, allowed_from=ACTIONABLE
            )
        except IncidentNotFoundError:
            logger.warning("Slack action on unknown incident", extra={"incidentId": action.value})
            metrics.add_metric(name="SlackActionUnknownIncident", unit=MetricUnit.Count, value=1)
            _respond(deps, payload, None, f"Incident {action.value} is no longer on record.")
            continue
        _after_change(deps, payload, change, clip_base_url=clip_base_url, now=now)
    return HttpReply(status=200)


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
        text, blocks = updated_message(payload.message, change, payload.actor())
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
    actor = payload.actor()
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
