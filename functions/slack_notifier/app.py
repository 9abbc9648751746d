"""slack_notifier: alert, lifecycle and camera-health events (SQS from EventBridge) -> Slack
(app mode with a bot token: posted and kept up to date; else incoming webhooks)."""

from __future__ import annotations

import os
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
from facewatch.alerts.settings import SlackNotifierSettings
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.notifier import NoSnapshots, SlackAdapters, SlackNotifier
from facewatch.alerts.slack.threads import (
    BetterSnapshots,
    DynamoMessageStore,
    SlackThreads,
    thread_settings,
)
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.snapshots import (
    BoundedSnapshots,
    KvsFrameGrabber,
    RekognitionFaceLocator,
    S3Snapshots,
)
from facewatch.audit.history import IncidentHistory
from facewatch.fleet.profiles import snapshot_policy
from facewatch.fleet.registry import RegistryReader
from facewatch.observability import logger, metrics, tracer

settings = SlackNotifierSettings.from_env()  # fails the cold start with a clear message
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_aws = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
# One attempt, short timeouts: a snapshot is never worth delaying an alert.
_snapshot = Config(
    retries={"total_max_attempts": 1},
    connect_timeout=min(1.0, settings.snapshot_timeout_seconds),
    read_timeout=settings.snapshot_timeout_seconds,
)
_snapshot_s3 = _snapshot.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


def _regional_s3() -> Any:
    # Presigned URLs on the regional host name: the global one can answer 307 for a new bucket.
    endpoint = boto3.client("s3").meta.endpoint_url
    return boto3.client("s3", endpoint_url=endpoint, config=_snapshot_s3)


def _snapshots() -> BoundedSnapshots | None:
    if not settings.snapshot_bucket_name:
        return None
    grabber = KvsFrameGrabber(
        boto3.client("kinesisvideo", config=_snapshot),
        lambda url: boto3.client(
            "kinesis-video-archived-media", endpoint_url=url, config=_snapshot
        ),
    )
    privacy: dict[str, Any] = {}
    if settings.table_name:
        registry = RegistryReader(
            boto3.resource("dynamodb", config=_aws).Table(settings.table_name)
        )
        privacy = {
            "policy_for": lambda detail: snapshot_policy(registry.privacy(detail.camera_id)),
            "faces": RekognitionFaceLocator(boto3.client("rekognition", config=_snapshot)),
            "access_log": IncidentHistory(
                boto3.client("dynamodb", config=_aws), settings.table_name
            ),
            "actor": "lambda:" + os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "slack-notifier"),
        }
    store = S3Snapshots(
        grabber,
        _regional_s3(),
        settings.snapshot_bucket_name,
        settings.snapshot_url_ttl_seconds,
        **privacy,
    )
    return BoundedSnapshots(store, settings.snapshot_timeout_seconds)


def app_mode(
    secrets: SecretsProvider, clip_links: Any, snapshots: BoundedSnapshots | None
) -> tuple[Any, SlackThreads | None]:
    """The app config reader and the message threads (None without an app secret)."""
    arn = settings.slack_app_secret_arn
    if not arn or not settings.table_name:
        return (lambda: None), None

    def config() -> SlackAppConfig | None:
        value = secrets.get(arn, max_age=settings.secret_max_age_seconds, transform="json")
        return SlackAppConfig.from_secret(value)

    def token() -> str:
        found = config()
        if found is None:
            raise RuntimeError("the Slack app secret has no bot token")
        return found.bot_token

    api = SlackWebApi(
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
        rate_limit_retries=settings.slack_rate_limit_retries,
        error_retries=settings.slack_error_retries,
        max_retry_after=settings.slack_max_retry_after_seconds,
    )
    store = DynamoMessageStore(boto3.client("dynamodb", config=_aws), settings.table_name)
    threads = SlackThreads(
        store,
        api,
        token,
        thread_settings(settings),
        clip_links.link_for,
        snapshots=BetterSnapshots(snapshots, store) if snapshots else None,
    )
    return config, threads


@cache
def default_adapters() -> SlackAdapters:
    secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_aws))
    webhook_secret = settings.slack_webhook_secret_arn
    clip_links = signed_clip_links(settings, secrets)
    snapshots = _snapshots()
    app, threads = app_mode(secrets, clip_links, snapshots)
    return SlackAdapters(
        routes=WebhookRoutes(
            lambda: secrets.get(
                webhook_secret, max_age=settings.secret_max_age_seconds, transform="json"
            )
        ),
        sender=SlackPoster(
            timeout=settings.slack_timeout_seconds,
            min_interval=settings.slack_min_interval_seconds,
            rate_limit_retries=settings.slack_rate_limit_retries,
            error_retries=settings.slack_error_retries,
            max_retry_after=settings.slack_max_retry_after_seconds,
        ),
        once=powertools_once(settings, "slack", boto3.client("dynamodb", config=_aws)),
        clip_links=clip_links,
        snapshots=snapshots or NoSnapshots(),
        app=app,
        threads=threads,
        mention=settings.slack_mention,
        match_threshold=settings.face_match_threshold,
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
    event: dict[str, Any], context: LambdaContext, adapters: SlackAdapters | None = None
) -> PartialItemFailureResponse:
    adapters = adapters or default_adapters()
    adapters.once.register(context)
    return run_notifier_batch(
        event,
        context,
        SlackNotifier(adapters),
        processor,
        reserve_seconds=settings.deadline_reserve_seconds,
        metrics=metrics,
        alerts=alert_records(),
    )
