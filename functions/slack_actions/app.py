"""slack_actions: Slack's button clicks, answered first: verify, authorise, record, 200.

The click is applied by slack_clicks from the clicks queue (facewatch.audit.slack_requests).
Slack waits 3 s, cold start included (bench/slack_cold_start_bench.py): this module loads
botocore (not boto3, which pulls in s3transfer), no X-Ray SDK and no slack_sdk.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import botocore.session
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.audit.slack_requests import (
    DynamoReplayStore,
    SlackAllowList,
    SlackApiUserGroups,
    SlackFrontDeps,
    SlackRequestGuard,
    SqsClickQueue,
    UserGroups,
    answer_slack_request,
)
from facewatch.observability import logger, metrics
from facewatch.settings import SlackActionsSettings
from facewatch.web import HttpReply, MalformedRequestError, request_text

settings = SlackActionsSettings.from_env()  # fails the cold start with a clear message
clock = time.time  # tests pass their own
# Slack waits 3 s for the answer: short timeouts, few retries.
_retries = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=1
)
_session = botocore.session.get_session()
_secrets: dict[str, tuple[float, str]] = {}


def _client(service: str) -> Any:
    return _session.create_client(service, config=_retries)


def _secret(arn: str) -> str:
    """GetSecretValue, cached per container for SECRET_MAX_AGE_SECONDS (rotation reaches
    every container within that time)."""
    cached = _secrets.get(arn)
    if cached and time.monotonic() - cached[0] < settings.secret_max_age_seconds:
        return cached[1]
    value = str(_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
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
        allow_list=lambda: SlackAllowList.model_validate_json(
            _secret(settings.allow_list_secret_arn)
        ),
        replays=DynamoReplayStore(_client("dynamodb"), settings.table_name),
        clicks=SqsClickQueue(_client("sqs"), settings.clicks_queue_url),
        user_groups=_user_groups(),
    )


def _answer(event: APIGatewayProxyEventV2, deps: SlackFrontDeps) -> HttpReply:
    if event.request_context.http.method != "POST" or event.raw_path != "/slack/actions":
        return HttpReply(status=404)
    try:
        body = request_text(event.body, bool(event.is_base64_encoded))
    except MalformedRequestError as exc:
        logger.warning("Slack request body does not decode", extra={"error": str(exc)})
        return HttpReply(status=400)
    return answer_slack_request(body, event.headers, deps, now=clock())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: SlackFrontDeps | None = None
) -> dict[str, Any]:
    reply = _answer(APIGatewayProxyEventV2(event), deps or default_deps())
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": reply.content_type, **reply.all_headers()},
        "body": reply.body,
        "isBase64Encoded": False,
    }
