"""slack_actions: Acknowledge / False alarm / Escalate buttons -> trail, message, event, SMS."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.audit.history import IncidentHistory
from facewatch.audit.slack_actions import (
    DynamoReplayStore,
    SlackActionDeps,
    SlackRequestGuard,
    SnsEscalation,
    WebhookResponder,
    handle_slack_request,
)
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import SlackActionsSettings

settings = SlackActionsSettings.from_env()  # fails the cold start with a clear message
app = APIGatewayHttpResolver()
clock = time.time  # tests pass their own
# Slack waits 3 s for the answer: short timeouts, few retries.
_retries = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=1, read_timeout=2
)


def _secret(arn: str) -> str:
    return parameters.get_secret(arn, max_age=settings.secret_max_age_seconds)


def _webhook(url: str) -> WebhookClient:
    return WebhookClient(
        url,
        timeout=2,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=1),
        ],
    )


@cache
def default_deps() -> SlackActionDeps:
    dynamodb = boto3.client("dynamodb", config=_retries)
    return SlackActionDeps(
        guard=SlackRequestGuard(
            lambda: _secret(settings.signing_secret_arn),
            DynamoReplayStore(dynamodb, settings.table_name),
        ),
        history=IncidentHistory(dynamodb, settings.table_name),
        responder=WebhookResponder(_webhook),
        publisher=EventBridgePublisher(
            boto3.client("events", config=_retries), settings.event_bus_name, attempts=2
        ),
        escalation=SnsEscalation(
            boto3.client("sns", config=_retries), settings.escalation_topic_arn
        ),
        clip_link_key=lambda: _secret(settings.clip_link_key_secret_arn).encode(),
        clip_link_ttl_seconds=settings.clip_link_ttl_days * 86400,
    )


def _base_url() -> str:
    context = app.current_event.request_context
    stage = context.stage
    return f"https://{context.domain_name}" + ("" if stage in ("$default", "") else f"/{stage}")


@app.post("/slack/actions")
def slack_actions() -> Response[str]:
    event = app.current_event
    reply = handle_slack_request(
        event.decoded_body or "",
        event.headers,
        app.context["deps"],
        clip_base_url=_base_url(),
        now=clock(),
    )
    return Response(reply.status, reply.content_type, reply.body, reply.all_headers())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: SlackActionDeps | None = None
) -> dict[str, Any]:
    app.context["deps"] = deps or default_deps()
    return app.resolve(event, context)
