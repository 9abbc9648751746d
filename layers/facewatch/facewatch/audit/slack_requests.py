"""Slack answered first: authenticate, authorise and record a button click, then answer 200.

Slack waits 3 s for the answer to an interactive request. This module does only what must come
before the answer, in this order, and changes nothing until the request has passed all of it:

1. The request is well formed: an ASCII decimal timestamp of bounded length, a ``v0=`` hex
   signature, a body that decodes (anything else: 400 or 401, never a 500).
2. Its Slack signature is valid (HMAC-SHA256 as Slack documents it, 5-minute window).
3. It comes from an allowed team and channel and, when user groups are configured, from a member
   of one of them (403 otherwise, logged with ids only).
4. Its signature was not seen before within the window (a conditional put with TTL): 401 if so.
5. The click is recorded durably on the clicks queue (SQS, KMS); the answer is 200.

The slack_clicks function then applies the click from the queue (``slack_actions.apply_click``):
trail, event, SMS, and the message updated in place through ``response_url``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facewatch.observability import MetricUnit, logger, metrics
from facewatch.web import HttpReply

SIGNATURE_WINDOW_SECONDS = 300  # Slack's own rule
# Slack's body is a form with one JSON field; ours are a few KiB. The bound keeps the click
# within one SQS message (256 KiB) with its envelope.
MAX_BODY_BYTES = 128 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII decimal: "²" or 4,301 digits are not a time
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # hex HMAC-SHA256, as Slack sends it
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
                Item={
                    "PK": {"S": key},
                    "SK": {"S": "SLACKSIG"},
                    "requestTimestamp": {"N": str(timestamp)},
                    # TTL deletion is lazy: a late item is harmless, the window still applies.
                    "expiresAt": {"N": str(timestamp + 2 * SIGNATURE_WINDOW_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


class SigningSecretUnavailableError(RuntimeError):
    """The signing secret cannot be read (not set yet after deploy, or no permission)."""


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:<timestamp>:<body>``, hex (slack_sdk's
    SignatureVerifier computes the same; importing slack_sdk loads its whole WebClient, half a
    second of a cold start that has 3 s, so the front door does the HMAC itself)."""
    message = f"v0:{timestamp}:{body}".encode("utf-8", "surrogatepass")
    digest = hmac.new(secret.encode(), message, hashlib.sha256)
    return f"v0={digest.hexdigest()}"


class SlackRequestGuard:
    """Signature and freshness of every request; nothing is written here."""

    def __init__(self, signing_secret: Callable[[], str], now: Callable[[], float] = time.time):
        self._secret = signing_secret
        self._now = now

    def check(self, body: str, headers: Mapping[str, str]) -> Rejection | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        signature = lowered.get("x-slack-signature", "")
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            return "unsigned"
        if abs(self._now() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            return "stale"
        try:
            secret = self._secret()
        except Exception as exc:
            raise SigningSecretUnavailableError(str(exc)) from exc
        if not hmac.compare_digest(slack_signature(secret, timestamp, body), signature):
            return "bad signature"
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

    @property
    def team_id(self) -> str | None:
        return self.team.id if self.team else self.user.team_id

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else None


class PayloadError(ValueError):
    """The body is not a block_actions payload we understand (answered 400)."""


def payload_json(body: str) -> str:
    """Slack posts ``application/x-www-form-urlencoded`` with one field, ``payload`` (JSON)."""
    try:
        fields = parse_qs(body, max_num_fields=5, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:  # too many fields, or bad %-escapes
        raise PayloadError(type(exc).__name__) from exc
    raw = fields.get("payload", [""])[0]
    if not raw:
        raise PayloadError("no payload field")
    return raw


def parse_payload_json(raw: str) -> BlockActionsPayload:
    try:
        return BlockActionsPayload.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadError(f"not a block_actions payload ({exc.error_count()} problems)") from exc


def parse_payload(body: str) -> BlockActionsPayload:
    return parse_payload_json(payload_json(body))


# ---- who may click ----------------------------------------------------------------------------
def _ids(value: Any) -> Any:
    """The stack writes each list as one comma-separated string (from its parameters)."""
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


class SlackAllowList(BaseModel):
    """Teams, channels and (optional) user groups whose clicks count; stored as a secret."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")
    team_ids: frozenset[str] = Field(alias="teamIds")
    channel_ids: frozenset[str] = Field(alias="channelIds")
    user_group_ids: frozenset[str] = Field(default=frozenset(), alias="userGroupIds")

    _split = field_validator("team_ids", "channel_ids", "user_group_ids", mode="before")(_ids)


class UserGroups(Protocol):
    def members(self, group_id: str) -> Collection[str]:
        """User ids of the group (Slack usergroups.users.list)."""
        ...


class SlackApiUserGroups:
    """slack_sdk WebClient with the bot token (scope ``usergroups:read``); cached per container."""

    def __init__(self, client: Any, max_age_seconds: float, now: Callable[[], float]) -> None:
        self._client = client
        self._max_age = max_age_seconds
        self._now = now
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group_id: str) -> Collection[str]:
        cached = self._cache.get(group_id)
        if cached and self._now() - cached[0] < self._max_age:
            return cached[1]
        users = frozenset(self._client.usergroups_users_list(usergroup=group_id)["users"])
        self._cache[group_id] = (self._now(), users)
        return users


def refusal(
    payload: BlockActionsPayload, allowed: SlackAllowList, groups: UserGroups | None
) -> str | None:
    """Why this click does not count, or None. Empty team or channel lists allow nobody."""
    if payload.team_id not in allowed.team_ids:
        return "team not allowed"
    if payload.channel_id not in allowed.channel_ids:
        return "channel not allowed"
    if allowed.user_group_ids:
        if groups is None:
            return "user groups configured without a bot token"
        if not any(payload.user.id in groups.members(g) for g in sorted(allowed.user_group_ids)):
            return "user not in an allowed user group"
    return None


# ---- the durable record -----------------------------------------------------------------------
class RecordedClick(BaseModel):
    """What the clicks queue carries: the verified payload and when it arrived."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)
    version: Literal[1] = 1
    payload: str = Field(max_length=MAX_BODY_BYTES)  # the payload field's JSON, as signed
    received_at: float = Field(alias="receivedAt")

    def parsed(self) -> BlockActionsPayload:
        return parse_payload_json(self.payload)


class ClickRecorder(Protocol):
    def record(self, click: RecordedClick) -> None: ...


class SqsClickQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def record(self, click: RecordedClick) -> None:
        self._client.send_message(
            QueueUrl=self._url, MessageBody=click.model_dump_json(by_alias=True)
        )


class SlackConfigUnavailableError(RuntimeError):
    """The allow-list or the user groups cannot be read (answered 503: nothing is recorded)."""


@dataclass(frozen=True, slots=True)
class SlackFrontDeps:
    guard: SlackRequestGuard
    allow_list: Callable[[], SlackAllowList]
    replays: ReplayStore
    clicks: ClickRecorder
    user_groups: UserGroups | None = None


def _reject(status: int, metric: str, message: str, **ids: Any) -> HttpReply:
    # Ids and reasons only: the body names people and could be replayed from a log.
    logger.warning(message, extra=ids)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return HttpReply(status=status, body="")


def answer_slack_request(
    body: str, headers: Mapping[str, str], deps: SlackFrontDeps, *, now: float
) -> HttpReply:
    """The whole front door; every outcome is an HttpReply, unauthenticated input never a 5xx."""
    refused = _unauthenticated(body, headers, deps)
    if refused is not None:
        return refused
    try:
        raw = payload_json(body)
        payload = parse_payload_json(raw)
    except PayloadError as exc:
        return _reject(400, "SlackPayloadRejected", "Slack payload not understood", error=str(exc))
    refused = _forbidden(payload, deps)
    if refused is not None:
        return refused
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered["x-slack-signature"]
    if not deps.replays.first_use(signature, int(lowered["x-slack-request-timestamp"])):
        return _reject(401, "SlackRequestRejected", "Slack request rejected", reason="replayed")
    try:
        deps.clicks.record(RecordedClick(payload=raw, received_at=now))
    except Exception:
        # Slack shows the click failed; a new click is a new signature, so it can be retried.
        logger.exception("Slack click not recorded")
        metrics.add_metric(name="SlackClickNotRecorded", unit=MetricUnit.Count, value=1)
        return HttpReply(status=503, body="try again")
    metrics.add_metric(name="SlackClickRecorded", unit=MetricUnit.Count, value=1)
    return HttpReply(status=200)


def _unauthenticated(
    body: str, headers: Mapping[str, str], deps: SlackFrontDeps
) -> HttpReply | None:
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return _reject(413, "SlackRequestRejected", "Slack request too large")
    try:
        rejection = deps.guard.check(body, headers)
    except SigningSecretUnavailableError:
        logger.exception("Slack signing secret unavailable: set it in Secrets Manager (README)")
        metrics.add_metric(name="SlackSigningSecretUnavailable", unit=MetricUnit.Count, value=1)
        return HttpReply(status=503, body="not configured")
    if rejection is not None:
        return _reject(401, "SlackRequestRejected", "Slack request rejected", reason=rejection)
    return None


def _forbidden(payload: BlockActionsPayload, deps: SlackFrontDeps) -> HttpReply | None:
    try:
        why = refusal(payload, deps.allow_list(), deps.user_groups)
    except Exception:
        logger.exception("Slack allow-list or user groups unavailable")
        metrics.add_metric(name="SlackAllowListUnavailable", unit=MetricUnit.Count, value=1)
        return HttpReply(status=503, body="not configured")
    if why is None:
        return None
    return _reject(
        403,
        "SlackClickForbidden",
        "Slack click not allowed",
        reason=why,
        teamId=payload.team_id,
        channelId=payload.channel_id,
        userId=payload.user.id,
    )


def click_from_message(body: str) -> RecordedClick:
    return RecordedClick.model_validate(json.loads(body))
