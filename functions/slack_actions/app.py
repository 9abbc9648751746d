"""slack_actions: Slack's button clicks, answered first: verify, authorise, record, 200.

The click is applied by slack_clicks from the clicks queue (facewatch.audit.slack_requests).
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities import parameters
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
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import SlackActionsSettings
from facewatch.web import HttpReply, MalformedRequestError, request_text

settings = SlackActionsSettings.from_env()  # fails the cold start with a clear message
app = APIGatewayHttpResolver()
clock = time.time  # tests pass their own
# Slack waits 3 s for the answer: short timeouts, few retries.
_retries = Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=1
)


def _secret(arn: str) -> str:
    return parameters.get_secret(arn, max_age=settings.secret_max_age_seconds)


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
        replays=DynamoReplayStore(boto3.client("dynamodb", config=_retries), settings.table_name),
        clicks=SqsClickQueue(boto3.client("sqs", config=_retries), settings.clicks_queue_url),
        user_groups=_user_groups(),
    )


@app.post("/slack/actions")
def slack_actions() -> Response[str]:
    event = app.current_event
    try:
        body = request_text(event.body, bool(event.is_base64_encoded))
    except MalformedRequestError as exc:
        logger.warning("Slack request body does not decode", extra={"error": str(exc)})
        reply = HttpReply(status=400)
    else:
        reply = answer_slack_request(body, event.headers, app.context["deps"], now=clock())
    return Response(reply.status, reply.content_type, reply.body, reply.all_headers())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: SlackFrontDeps | None = None
) -> dict[str, Any]:
    app.context["deps"] = deps or default_deps()
    return app.resolve(event, context)
