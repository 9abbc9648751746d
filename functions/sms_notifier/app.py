"""sms_notifier: alert events (SQS from EventBridge) -> SMS text on the alerts SNS topic."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.alerts.fanout import (
    DynamoAlertRecords,
    powertools_once,
    run_notifier_batch,
    signed_clip_links,
)
from facewatch.alerts.settings import SmsNotifierSettings
from facewatch.alerts.sms.notifier import SmsAdapters, SmsNotifier, SnsTopic
from facewatch.observability import logger, metrics, tracer

settings = SmsNotifierSettings.from_env()  # fails the cold start with a clear message
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_aws = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@cache
def default_adapters() -> SmsAdapters:
    secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_aws))
    sns = boto3.client("sns", config=_aws)
    return SmsAdapters(
        topic=SnsTopic(sns, settings.alerts_topic_arn, settings.sms_type),
        once=powertools_once(settings, "sms", boto3.client("dynamodb", config=_aws)),
        clip_links=signed_clip_links(settings, secrets),
    )


@cache
def alert_records() -> DynamoAlertRecords | None:
    if not settings.table_name:
        return None
    return DynamoAlertRecords(boto3.client("dynamodb", config=_aws), settings.table_name)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: SmsAdapters | None = None
) -> PartialItemFailureResponse:
    adapters = adapters or default_adapters()
    adapters.once.register(context)
    return run_notifier_batch(
        event,
        context,
        SmsNotifier(adapters),
        processor,
        reserve_seconds=settings.deadline_reserve_seconds,
        metrics=metrics,
        alerts=alert_records(),
    )
