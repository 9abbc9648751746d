"""alert_ticker: every minute, open alerts follow their incident (Slack app mode: growth, end of
the visit) and, where ESCALATE_AFTER_MINUTES says so, unanswered ones are escalated once."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from facewatch.alerts.bus import EventBridgePublisher
from facewatch.alerts.settings import AlertTickerSettings
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.threads import DynamoMessageStore, SlackThreads, thread_settings
from facewatch.alerts.sms.notifier import SnsTopic
from facewatch.alerts.view import ClipLinks
from facewatch.audit.escalation import TickerDeps, parse_escalation_minutes, scheduled_time, tick
from facewatch.audit.history import IncidentHistory, IncidentRecord
from facewatch.clips.links import sign_short_clip_link
from facewatch.observability import logger, metrics, tracer

settings = AlertTickerSettings.from_env()  # fails the cold start with a clear message
escalate_after = parse_escalation_minutes(settings.escalate_after_minutes)
_aws = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@cache
def default_deps() -> TickerDeps:
    secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_aws))
    dynamodb = boto3.client("dynamodb", config=_aws)
    table = str(settings.table_name)
    threads = None
    app_arn = settings.slack_app_secret_arn
    if app_arn:

        def token() -> str:
            value = secrets.get(app_arn, max_age=settings.secret_max_age_seconds, transform="json")
            config = SlackAppConfig.from_secret(value)
            if config is None:
                raise RuntimeError("webhook mode: no bot token")
            return config.bot_token

        key_arn = settings.clip_link_key_secret_arn
        links = ClipLinks(
            settings.clip_link_base_url,
            (lambda: str(secrets.get(key_arn)).encode()) if key_arn else None,
            settings.clip_link_ttl_days,
        )
        threads = SlackThreads(
            DynamoMessageStore(dynamodb, table),
            SlackWebApi(base_url=settings.slack_api_url),
            token,
            thread_settings(settings),
            links.link_for,
        )

    def clip_link(incident: IncidentRecord) -> str:
        base, key_arn = settings.clip_link_base_url, settings.clip_link_key_secret_arn
        if not base or not key_arn:
            return incident.incident_id
        expires = int(incident.first_seen.timestamp()) + settings.clip_link_ttl_days * 86400
        key = str(secrets.get(key_arn, max_age=settings.secret_max_age_seconds)).encode()
        return sign_short_clip_link(base, incident.incident_id, expires, key)

    return TickerDeps(
        history=IncidentHistory(dynamodb, table),
        publisher=EventBridgePublisher(
            boto3.client("events", config=_aws), settings.event_bus_name
        ),
        escalation_sms=SnsTopic(boto3.client("sns", config=_aws), settings.escalation_topic_arn),
        escalate_after=escalate_after,
        # webhook mode leaves no message on the incidents: reconcile finds nothing to update
        threads=threads,
        clip_link=clip_link,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: TickerDeps | None = None
) -> dict[str, int]:
    now = scheduled_time(event, time.time())
    return dict(tick(deps or default_deps(), now))
