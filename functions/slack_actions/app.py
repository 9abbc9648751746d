"""slack_actions: Slack's button clicks, answered first: verify, authorise, record, 200.

The click is applied by slack_clicks from the clicks queue. Slack waits 3 s, cold start
included, and the target is 1.5 s at 256 MB (bench/slack_cold_start_bench.py): this module
imports the stdlib and facewatch.aws_json: no botocore, no pydantic, no Powertools, no
slack_sdk unless user groups are configured.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any

from facewatch.audit.slack_front import (
    DynamoReplayStore,
    FrontSettings,
    SlackApiUserGroups,
    SlackFrontDeps,
    SlackRequestGuard,
    SqsClickQueue,
    UserGroups,
    answer_slack_request,
    logger,
    metrics,
    parse_allow_list,
)
from facewatch.aws_json import DynamoDB, SecretsManager, Sqs
from facewatch.web import HttpReply, MalformedRequestError, request_text

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext  # a type only

settings = FrontSettings.from_env()  # fails the cold start with a clear message
clock = time.time  # tests pass their own
_secrets: dict[str, tuple[float, str]] = {}


@cache
def _secrets_manager() -> SecretsManager:
    return SecretsManager()  # 1 s timeouts, one retry: Slack waits 3 s


def _secret(arn: str) -> str:
    """GetSecretValue, cached per container for SECRET_MAX_AGE_SECONDS (rotation reaches
    every container within that time)."""
    cached = _secrets.get(arn)
    if cached and time.monotonic() - cached[0] < settings.secret_max_age_seconds:
        return cached[1]
    value = str(_secrets_manager().get_secret_value(SecretId=arn)["SecretString"])
    _secrets[arn] = (time.monotonic(), value)
    return value


def _user_groups() -> UserGroups | None:
    if not settings.bot_token_secret_arn:
        return None
    from slack_sdk import WebClient  # noqa: PLC0415 - only when user groups are allowed

    client = WebClient(token=_secret(settings.bot_token_secret_arn), timeout=1)
    return SlackApiUserGroups(client, settings.secret_max_age_seconds, clock)


@cache
def default_deps() -> SlackFrontDeps:
    return SlackFrontDeps(
        guard=SlackRequestGuard(lambda: _secret(settings.signing_secret_arn)),
        allow_list=lambda: parse_allow_list(_secret(settings.allow_list_secret_arn)),
        replays=DynamoReplayStore(DynamoDB(), settings.table_name),
        clicks=SqsClickQueue(Sqs(), settings.clicks_queue_url),
        user_groups=_user_groups(),
    )


def _answer(event: dict[str, Any], deps: SlackFrontDeps) -> HttpReply:
    """The HTTP API's payload format 2.0: method, rawPath, headers (lower-case), body."""
    http = event.get("requestContext", {}).get("http", {})
    if http.get("method") != "POST" or event.get("rawPath") != "/slack/actions":
        return HttpReply(status=404)
    try:
        body = request_text(event.get("body"), bool(event.get("isBase64Encoded")))
    except MalformedRequestError as exc:
        logger.warning("Slack request body does not decode", extra={"error": str(exc)})
        return HttpReply(status=400)
    return answer_slack_request(body, event.get("headers") or {}, deps, now=clock())


def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: SlackFrontDeps | None = None
) -> dict[str, Any]:
    try:
        reply = _answer(event, deps or default_deps())
    finally:
        metrics.flush()  # also when the answer failed: its counts are in the log
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": reply.content_type, **reply.all_headers()},
        "body": reply.body,
        "isBase64Encoded": False,
    }
