"""What both notifiers share: the SQS batch of EventBridge events, sending once, canaries.

Path: EventBridge rule -> SQS queue (redrive to a DLQ) -> notifier (ReportBatchItemFailures).
Each message is one EventBridge event. A message fails alone (the rest of the batch is kept),
goes back to the queue, and after maxReceiveCount lands in the DLQ: an alert is never dropped.
Sending is keyed on the incident (Powertools idempotency, DynamoDB with TTL), so redelivery,
EventBridge's at-least-once delivery and a DLQ replay cannot send an alert twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import BaseModel, ConfigDict, Field

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.alerts.settings import NotifierSettings
from facewatch.alerts.view import ClipLinks
from facewatch.observability import MetricUnit, logger


class BusEnvelope(BaseModel):
    """An EventBridge event as a rule delivers it to SQS (the message body)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: datetime
    detail: dict[str, Any]

    @property
    def is_canary(self) -> bool:
        return self.detail.get("test") is True


class Outcome(StrEnum):
    SENT = "Sent"
    DUPLICATE = "Duplicate"  # already sent by an earlier delivery of the same incident
    CANARY = "Canary"  # detail.test: acknowledged, nothing sent
    NOT_ROUTED = "NotRouted"  # the alert's severity route skips this channel (e.g. no SMS)
    NOT_PAGED = "NotPaged"  # a low-priority hint (detail.page false): no SMS
    NOT_ON_RECORD = "NotOnRecord"  # an alert whose incident never alerted: forged, not sent
    UNCHANGED = "Unchanged"  # an update the message already shows, or one held by its throttle


class UnsupportedEventError(ValueError):
    """A detail-type this notifier has no message for (a rule routes too much)."""


class OutOfTimeError(RuntimeError):
    """Too little invocation time left to start a message; it goes back to the queue."""


class Once(Protocol):
    def run(self, key: str, action: Callable[[], None]) -> bool:
        """Run ``action`` unless ``key`` already completed; True when it ran now."""
        ...

    def register(self, context: Any) -> None:
        """The invocation's context (bounds how long an unfinished send blocks a retry)."""
        ...


class PowertoolsOnce:
    """Powertools idempotency keyed on ``<channel>#md5(key)``; completed keys live ``ttl``."""

    def __init__(self, persistence: BasePersistenceLayer, channel: str, ttl_seconds: int) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
            use_local_cache=True,
        )

        def send_once(*, delivery: dict[str, str], action: Callable[[], None]) -> dict[str, str]:
            action()
            return {"sent": delivery["key"]}

        self._send_once: Callable[..., dict[str, str]] = idempotent_function(
            send_once,
            data_keyword_argument="delivery",
            persistence_store=persistence,
            config=self.config,
            key_prefix=f"facewatch-{channel}",
        )

    def register(self, context: Any) -> None:
        if context is not None:
            self.config.register_lambda_context(context)

    def run(self, key: str, action: Callable[[], None]) -> bool:
        ran = False

        def tracked() -> None:
            nonlocal ran
            action()
            ran = True

        self._send_once(delivery={"key": key}, action=tracked)
        return ran


class Channel(Protocol):
    name: str

    def deliver(self, envelope: BusEnvelope) -> Outcome:
        """Send one (non-canary) event: SENT, or DUPLICATE when it was sent before."""
        ...


def powertools_once(
    settings: NotifierSettings, channel: str, dynamodb_client: Any
) -> PowertoolsOnce:
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=dynamodb_client
    )
    return PowertoolsOnce(persistence, channel, settings.idempotency_ttl_seconds)


def signed_clip_links(settings: NotifierSettings, secrets: SecretsProvider) -> ClipLinks:
    """Clip links signed with the key secret (read through Powertools, cached max_age)."""
    key_arn = settings.clip_link_key_secret_arn
    if not key_arn:
        return ClipLinks(None, None, settings.clip_link_ttl_days)

    def key() -> bytes:
        return str(secrets.get(key_arn, max_age=settings.secret_max_age_seconds)).encode()

    return ClipLinks(settings.clip_link_base_url, key, settings.clip_link_ttl_days)


class AlertRecords(Protocol):
    def alerted(self, incident_id: str) -> bool:
        """True if the incident exists and reached its alert (alertState pending or sent)."""
        ...


class DynamoAlertRecords:
    """The incident item face_events writes before it publishes (so pending counts too)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def alerted(self, incident_id: str) -> bool:
        item = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": f"INCIDENT#{incident_id}"}, "SK": {"S": "INCIDENT"}},
            ProjectionExpression="alertState",
            ConsistentRead=True,
        ).get("Item")
        return bool(item) and item.get("alertState", {}).get("S") in ("pending", "sent")


def _on_record(envelope: BusEnvelope, alerts: AlertRecords | None) -> bool:
    """Anyone who can reach the queue or the bus could forge an alert: only an incident
    facewatch itself alerted is sent (other detail-types carry no incident to check)."""
    if alerts is None or envelope.detail_type != ALERT_DETAIL_TYPE:
        return True
    incident_id = envelope.detail.get("incidentId")
    return isinstance(incident_id, str) and alerts.alerted(incident_id)


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


def run_notifier_batch(
    event: dict[str, Any],
    context: Any,
    channel: Channel,
    processor: BatchProcessor,
    *,
    reserve_seconds: float,
    metrics: MetricsSink,
    alerts: AlertRecords | None = None,
) -> PartialItemFailureResponse:
    counts: Counter[str] = Counter()

    def handle(record: SQSRecord) -> None:
        remaining = context.get_remaining_time_in_millis() / 1000 if context else None
        if remaining is not None and remaining < reserve_seconds:
            counts["Deferred"] += 1
            raise OutOfTimeError(f"{remaining:.1f} s left; message returned to the queue")
        try:
            envelope = BusEnvelope.model_validate_json(record.body)
            if envelope.is_canary:
                logger.info("canary acknowledged", extra={"event_id": envelope.id})
                outcome = Outcome.CANARY
            elif not _on_record(envelope, alerts):
                logger.warning(
                    "alert for an incident not on record; not sent",
                    extra={
                        "event_id": envelope.id,
                        "incident_id": envelope.detail.get("incidentId"),
                    },
                )
                outcome = Outcome.NOT_ON_RECORD
            else:
                outcome = channel.deliver(envelope)
        except Exception as exc:
            counts["Failed"] += 1
            logger.warning(
                "notification failed; the message will be redelivered",
                extra={
                    "channel": channel.name,
                    "message_id": record.message_id,
                    "receive_count": record.attributes.approximate_receive_count,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            raise
        counts[outcome.value] += 1

    response = process_partial_response(event, handle, processor, context)
    prefix = channel.name.capitalize()
    outcomes = ("Sent", "Duplicate", "Canary", "NotPaged", "NotOnRecord", "NotRouted", "Unchanged")
    for outcome in (*outcomes, "Failed", "Deferred"):
        metrics.add_metric(name=f"{prefix}{outcome}", unit=MetricUnit.Count, value=counts[outcome])
    logger.info("batch done", extra={"channel": channel.name, **counts})
    return response
