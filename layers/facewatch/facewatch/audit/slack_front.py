"""Slack answered first: authenticate, authorise and record a button click, then answer 200.

Slack waits 3 s for the answer to an interactive request, cold start included, and the target
is 1.5 s at 256 MB (14.5% of a vCPU): about 0.2 CPU-seconds for the interpreter, the imports
and the first request (docs/benchmarks.md). So this module imports the stdlib only: no pydantic
(0.15 CPU-s), no botocore (0.4 CPU-s with its clients), no Powertools (0.04 CPU-s: logs are the
stdlib's, made JSON by Lambda's JSON log format; metrics are written as Powertools writes
them, see ``EmfMetrics``). The worker
parses the recorded click again with the pydantic models (``slack_requests``); what this
module accepts is a subset of what they accept, with the same ids (property tests).

The front door does, in this order, and changes nothing until the request has passed all of it:

1. The request is well formed: an ASCII decimal timestamp of bounded length, a ``v0=`` hex
   signature, a body that decodes (anything else: 400 or 401, never a 500).
2. Its Slack signature is valid (HMAC-SHA256 as Slack documents it, 5-minute window).
3. It comes from an allowed team and channel and, when user groups are configured, from a member
   of one of them (403 otherwise, logged with ids only).
4. Its signature was not seen before within the window (a conditional put with TTL): 401 if so.
5. The click is recorded durably on the clicks queue (SQS, KMS); the answer is 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import parse_qs

from facewatch.web import HttpReply

SIGNATURE_WINDOW_SECONDS = 300  # Slack's own rule
# Slack's body is a form with one JSON field; ours are a few KiB. The bound keeps the click
# within one SQS message (256 KiB) with its envelope.
MAX_BODY_BYTES = 128 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII decimal: "²" or 4,301 digits are not a time
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # hex HMAC-SHA256, as Slack sends it
Rejection = Literal["unsigned", "stale", "bad signature", "replayed"]

# Lambda's JSON log format (the function's LoggingConfig) writes each record as JSON with its
# ``extra`` keys and the request id. slack_sdk (user groups only) logs its requests at DEBUG:
# pinned at INFO, as facewatch.observability.QUIET_LIBRARIES does for the other functions.
logger = logging.getLogger("facewatch.slack_front")
logging.getLogger("slack_sdk").setLevel(logging.INFO)


class EmfMetrics:
    """Counts in CloudWatch's embedded metric format, the document Powertools' Metrics writes
    for the other functions (namespace Facewatch, dimension service=facewatch; a test compares
    the two): one JSON line on stdout per invocation, none without a metric."""

    def __init__(self, namespace: str = "Facewatch", service: str = "facewatch") -> None:
        self._namespace = namespace
        self._service = service
        self._counts: dict[str, list[float]] = {}

    def count(self, name: str) -> None:
        self._counts.setdefault(name, []).append(1.0)

    def document(self, now: float) -> dict[str, Any]:
        return {
            "_aws": {
                "Timestamp": int(now * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": n, "Unit": "Count"} for n in self._counts],
                    }
                ],
            },
            "service": self._service,
            **self._counts,
        }

    def flush(self, now: float | None = None) -> None:
        if self._counts and os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true":
            document = self.document(time.time() if now is None else now)
            sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        self._counts = {}


metrics = EmfMetrics()


# ---- settings ---------------------------------------------------------------------------------
class FrontSettingsError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


class FrontSettings(NamedTuple):
    """``facewatch.settings.SlackActionsSettings`` without pydantic (a test keeps them equal:
    whatever this accepts, that accepts with the same values)."""

    table_name: str
    signing_secret_arn: str
    allow_list_secret_arn: str
    clicks_queue_url: str
    bot_token_secret_arn: str | None = None
    secret_max_age_seconds: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FrontSettings:
        env = os.environ if environ is None else environ
        required = {
            "table_name": "TABLE_NAME",
            "signing_secret_arn": "SLACK_SIGNING_SECRET_ARN",  # pragma: allowlist secret
            "allow_list_secret_arn": "SLACK_ALLOW_LIST_SECRET_ARN",  # pragma: allowlist secret
            "clicks_queue_url": "SLACK_CLICKS_QUEUE_URL",
        }
        missing = [name for name in required.values() if not env.get(name)]
        max_age = env.get("SECRET_MAX_AGE_SECONDS") or "300"
        problems = [f"{name}: Field required" for name in missing]
        if not re.fullmatch(r"[0-9]{1,4}", max_age) or int(max_age) > 3600:
            problems.append("SECRET_MAX_AGE_SECONDS: an integer from 0 to 3600")
        if problems:
            raise FrontSettingsError(f"FrontSettings: invalid environment: {'; '.join(problems)}")
        return cls(
            **{field: env[name] for field, name in required.items()},
            bot_token_secret_arn=env.get("SLACK_BOT_TOKEN_SECRET_ARN") or None,
            secret_max_age_seconds=int(max_age),
        )


# ---- request authenticity ---------------------------------------------------------------------
class ReplayStore(Protocol):
    def first_use(self, signature: str, timestamp: int) -> bool:
        """Record the signature; False if it was already seen within the window."""
        ...


def error_code(exc: Exception) -> str | None:
    """botocore's ClientError and facewatch.aws_json's AwsError carry the same response."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


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
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


class SigningSecretUnavailableError(RuntimeError):
    """The signing secret cannot be read (not set yet after deploy, or no permission)."""


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:<timestamp>:<body>``, hex (slack_sdk's
    SignatureVerifier computes the same; importing slack_sdk loads its whole WebClient)."""
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


class ClickIds(NamedTuple):
    """Who clicked where: what the allow-list decides on."""

    user_id: str
    team_id: str | None
    channel_id: str | None


# Where Python's json and pydantic's parser differ, refuse (Slack sends none of these): deeper
# than pydantic's 200 levels, lone surrogates, integers near Python's 4,300-digit limit.
_MAX_DEPTH = 64
_MAX_INT_CHARS = 1000
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_RESPONSE_URL = re.compile(r"https://hooks\.slack\.com/")


def _bounded_int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise ValueError("integer too long")
    return int(text)


def _plain(data: Any) -> None:
    """Bounded depth and no lone surrogates anywhere (keys included)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise PayloadError("nested too deeply")
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise PayloadError("lone surrogate")
        elif isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: not an object")
    return value


def _text(value: Any, where: str, *, low: int = 0, high: int | None = None) -> str:
    if not isinstance(value, str) or len(value) < low or (high is not None and len(value) > high):
        raise PayloadError(f"{where}: not a string of the right length")
    return value


def _optional_text(parent: dict[str, Any], key: str) -> str | None:
    value = parent.get(key)
    return None if value is None else _text(value, key)


def _optional_object(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = parent.get(key)
    return None if value is None else _object(value, key)


def click_ids(raw: str) -> ClickIds:
    """The payload field's JSON, checked as ``slack_requests.BlockActionsPayload`` checks it."""
    try:
        data = json.loads(raw, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"not JSON ({type(exc).__name__})") from exc
    _plain(data)
    root = _object(data, "payload")
    if root.get("type") != "block_actions":
        raise PayloadError("not a block_actions payload")
    user = _object(root.get("user"), "user")
    user_id = _text(user.get("id"), "user.id", low=1, high=64)
    for key in ("username", "name", "team_id"):
        _optional_text(user, key)
    team_id = _place_id(root, "team", "domain")
    channel_id = _place_id(root, "channel", "name")
    url = _optional_text(root, "response_url")
    if url is not None and not _RESPONSE_URL.match(url):
        raise PayloadError("response_url: not Slack's")
    _check_actions(root.get("actions"))
    message = _optional_object(root, "message")
    if message is not None:
        _optional_text(message, "text")
        blocks = message.get("blocks", [])
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise PayloadError("message.blocks: a list of objects expected")
    if root.get("team") is None:  # BlockActionsPayload.team_id: the user's team then
        team_id = _optional_text(user, "team_id")
    return ClickIds(user_id=user_id, team_id=team_id, channel_id=channel_id)


def _place_id(root: dict[str, Any], key: str, optional: str) -> str | None:
    """``team`` or ``channel``: absent or null, or an object with a string ``id``."""
    place = _optional_object(root, key)
    if place is None:
        return None
    _optional_text(place, optional)
    return _text(place.get("id"), f"{key}.id")


def _check_actions(actions: Any) -> None:
    if not isinstance(actions, list) or not 1 <= len(actions) <= 5:
        raise PayloadError("actions: 1 to 5 expected")
    for item in actions:
        action = _object(item, "action")
        _text(action.get("action_id"), "action_id")
        if "value" in action:
            _text(action["value"], "value", high=128)


# ---- who may click ----------------------------------------------------------------------------
class AllowList(Protocol):
    @property
    def team_ids(self) -> frozenset[str]: ...
    @property
    def channel_ids(self) -> frozenset[str]: ...
    @property
    def user_group_ids(self) -> frozenset[str]: ...


class SlackAllowListIds(NamedTuple):
    """Teams, channels and (optional) user groups whose clicks count."""

    team_ids: frozenset[str]
    channel_ids: frozenset[str]
    user_group_ids: frozenset[str] = frozenset()


_ALLOW_LIST_FIELDS = {
    "team_ids": "teamIds",
    "channel_ids": "channelIds",
    "user_group_ids": "userGroupIds",
}


def _ids(value: Any, where: str) -> frozenset[str]:
    """The stack writes each list as one comma-separated string (from its parameters)."""
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise ValueError(f"{where}: a comma-separated string or a list of strings")


def parse_allow_list(text: str) -> SlackAllowListIds:
    """The allow-list secret, read as ``slack_requests.SlackAllowList`` reads it (a test
    checks they agree): camelCase keys (or the field names), nothing else."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("allow-list: not an object")
    known = set(_ALLOW_LIST_FIELDS) | set(_ALLOW_LIST_FIELDS.values())
    if extra := sorted(set(data) - known):
        raise ValueError(f"allow-list: unknown keys {extra}")
    values: dict[str, frozenset[str]] = {}
    for field, alias in _ALLOW_LIST_FIELDS.items():
        key = alias if alias in data else field
        if key in data:
            values[field] = _ids(data[key], alias)
        elif field != "user_group_ids":
            raise ValueError(f"allow-list: {alias} missing")
    return SlackAllowListIds(**values)


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


def refusal(click: ClickIds, allowed: AllowList, groups: UserGroups | None) -> str | None:
    """Why this click does not count, or None. Empty team or channel lists allow nobody."""
    if click.team_id not in allowed.team_ids:
        return "team not allowed"
    if click.channel_id not in allowed.channel_ids:
        return "channel not allowed"
    if allowed.user_group_ids:
        if groups is None:
            return "user groups configured without a bot token"
        if not any(click.user_id in groups.members(g) for g in sorted(allowed.user_group_ids)):
            return "user not in an allowed user group"
    return None


# ---- the durable record -----------------------------------------------------------------------
class Click(NamedTuple):
    """What the clicks queue carries (``slack_requests.RecordedClick``, version 1): the
    payload field's JSON as signed, and when it arrived."""

    payload: str
    received_at: float

    def message_body(self) -> str:
        return json.dumps({"version": 1, "payload": self.payload, "receivedAt": self.received_at})


class ClickRecorder(Protocol):
    def record(self, click: Click) -> None: ...


class SqsClickQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def record(self, click: Click) -> None:
        self._client.send_message(QueueUrl=self._url, MessageBody=click.message_body())


class SlackFrontDeps:
    """What the front door reaches (a plain class: dataclasses cost the cold start inspect)."""

    __slots__ = ("allow_list", "clicks", "guard", "replays", "user_groups")

    def __init__(
        self,
        *,
        guard: SlackRequestGuard,
        allow_list: Callable[[], AllowList],
        replays: ReplayStore,
        clicks: ClickRecorder,
        user_groups: UserGroups | None = None,
    ) -> None:
        self.guard = guard
        self.allow_list = allow_list
        self.replays = replays
        self.clicks = clicks
        self.user_groups = user_groups


def _reject(status: int, metric: str, message: str, **ids: Any) -> HttpReply:
    # Ids and reasons only: the body names people and could be replayed from a log.
    logger.warning(message, extra=ids)
    metrics.count(metric)
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
        click = click_ids(raw)
    except PayloadError as exc:
        return _reject(400, "SlackPayloadRejected", "Slack payload not understood", error=str(exc))
    refused = _forbidden(click, deps)
    if refused is not None:
        return refused
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered["x-slack-signature"]
    if not deps.replays.first_use(signature, int(lowered["x-slack-request-timestamp"])):
        return _reject(401, "SlackRequestRejected", "Slack request rejected", reason="replayed")
    try:
        deps.clicks.record(Click(payload=raw, received_at=now))
    except Exception:
        # Slack shows the click failed; a new click is a new signature, so it can be retried.
        logger.exception("Slack click not recorded")
        metrics.count("SlackClickNotRecorded")
        return HttpReply(status=503, body="try again")
    metrics.count("SlackClickRecorded")
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
        metrics.count("SlackSigningSecretUnavailable")
        return HttpReply(status=503, body="not configured")
    if rejection is not None:
        return _reject(401, "SlackRequestRejected", "Slack request rejected", reason=rejection)
    return None


def _forbidden(click: ClickIds, deps: SlackFrontDeps) -> HttpReply | None:
    try:
        why = refusal(click, deps.allow_list(), deps.user_groups)
    except Exception:
        logger.exception("Slack allow-list or user groups unavailable")
        metrics.count("SlackAllowListUnavailable")
        return HttpReply(status=503, body="not configured")
    if why is None:
        return None
    return _reject(
        403,
        "SlackClickForbidden",
        "Slack click not allowed",
        reason=why,
        teamId=click.team_id,
        channelId=click.channel_id,
        userId=click.user_id,
    )
