"""slack_clicks: recorded Slack clicks (SQS) -> trail, status event, SMS, message update."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
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
    SlackActionDeps,
    SnsEscalation,
    WebhookResponder,
    apply_click,
)
from facewatch.audit.slack_requests import click_from_message
from facewatch.observability import logger, metrics, tracer
from facewatch.settings import SlackClicksSettings

settings = SlackClicksSettings.from_env()  # fails the cold start with a clear message
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
clock = time.time  # tests pass their own
_retries = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
)


def _secret(arn: str) -> str:
    return parameters.get_secret(arn, max_age=settings.secret_max_age_seconds)


def _webhook(url: str) -> WebhookClient:
    return WebhookClient(
        url,
        timeout=5,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


@cache
def default_deps() -> SlackActionDeps:
    return SlackActionDeps(
        history=IncidentHistory(boto3.client("dynamodb", config=_retries), settings.table_name),
        responder=WebhookResponder(_webhook),
        publisher=EventBridgePublisher(
            boto3.client("events", config=_retries), settings.event_bus_name, attempts=3
        ),
        escalation=SnsEscalation(
            boto3.client("sns", config=_retries), settings.escalation_topic_arn
        ),
        clip_link_key=lambda: _secret(settings.clip_link_key_secret_arn).encode(),
        clip_link_ttl_seconds=settings.clip_link_ttl_days * 86400,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: SlackActionDeps | None = None
) -> PartialItemFailureResponse:
    used = deps or default_deps()

    def handle(record: SQSRecord) -> None:
        click = click_from_message(record.body)
        apply_click(click.parsed(), used, clip_base_url=settings.clip_link_base_url, now=clock())

    return process_partial_response(event, handle, processor, context)
