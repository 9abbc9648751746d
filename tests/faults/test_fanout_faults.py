"""Faults between the bus and the phones/Slack: each notifier behind its SQS queue with the
template's redrive (maxReceiveCount) to an encrypted DLQ, as Lambda's SQS mapping drives it.
Invariants: no alert lost (sent after recovery, or waiting in the DLQ until `facewatch dlq
replay`), never sent twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from facewatch_tools.cli import main as facewatch
from facewatch_tools.template import resource
from tests.conftest import load_event
from tests.fanout.builders import sqs_record
from tests.fanout.test_notifiers import (  # noqa: F401 - pytest fixtures
    REGION,
    aws,
    invoke,
    slack_app,
    sms_app,
    sms_sent,
    topic_arn,
    webhook,
)
from tests.fanout.webhook_server import Answer, LocalWebhook

pytestmark = pytest.mark.integration
MAX_RECEIVES = resource("SlackAlertsQueue")["Properties"]["RedrivePolicy"]["maxReceiveCount"]


class Queues:
    """The notifier's source queue and DLQ on moto, with the template's redrive policy."""

    def __init__(self, name: str) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dlq = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq, AttributeNames=["QueueArn"])
        self.source = self.sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "0",  # a failed message is visible again at once
                "RedrivePolicy": json.dumps(
                    {
                        "deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"],
                        "maxReceiveCount": str(MAX_RECEIVES),
                    }
                ),
            },
        )["QueueUrl"]
        self.deliveries = 0

    def send(self, event_file: str) -> None:
        body = json.loads(load_event(event_file)["Records"][0]["body"])
        self.sqs.send_message(QueueUrl=self.source, MessageBody=json.dumps(body))

    def drive(self, app: ModuleType, rounds: int) -> None:
        """Lambda's SQS mapping: receive, invoke, delete what succeeded."""
        for _ in range(rounds):
            messages = self.sqs.receive_message(
                QueueUrl=self.source, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return
            self.deliveries += 1
            event = {"Records": [sqs_record(m["Body"], m["MessageId"], "alerts") for m in messages]}
            failed = set(invoke(app, event))
            for message in messages:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(
                        QueueUrl=self.source, ReceiptHandle=message["ReceiptHandle"]
                    )

    def waiting_in_dlq(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def slack_queues(aws: None) -> Iterator[Queues]:  # noqa: F811
    yield Queues("slack-alerts")


def fast(app: ModuleType, **settings: Any) -> None:
    app.settings = app.settings.model_copy(update=settings)  # type: ignore[attr-defined]
    app.default_adapters.cache_clear()


def test_slack_429_is_waited_out_and_sent_once(
    slack_app: ModuleType,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
    slack_queues: Queues,
    record_outcome: Any,
) -> None:
    webhook.script("seoul", Answer(429, "rate_limited", {"Retry-After": "1"}))
    slack_queues.send("slack_notifier.json")
    slack_queues.drive(slack_app, rounds=3)
    assert len(webhook.accepted("seoul")) == 1
    assert slack_queues.waiting_in_dlq() == 0
    record_outcome("Slack", "429 with Retry-After 1", "waited, sent once in the same delivery")


def test_slack_500_then_recovery_sends_once(
    slack_app: ModuleType,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
    slack_queues: Queues,
    record_outcome: Any,
) -> None:
    fast(slack_app, slack_error_retries=0)
    webhook.script("seoul", *[Answer(500, "boom")] * 3)
    slack_queues.send("slack_notifier.json")
    slack_queues.drive(slack_app, rounds=10)
    assert len(webhook.accepted("seoul")) == 1
    assert slack_queues.deliveries == 4
    record_outcome("Slack", "500 three times", "redelivered by SQS 3 times, then sent once")


def test_slack_timeout_is_retried(
    slack_app: ModuleType,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
    slack_queues: Queues,
    record_outcome: Any,
) -> None:
    fast(slack_app, slack_error_retries=0, slack_timeout_seconds=1)
    webhook.script("seoul", Answer(hang=True))
    slack_queues.send("slack_notifier.json")
    slack_queues.drive(slack_app, rounds=5)
    assert len(webhook.accepted("seoul")) == 1
    record_outcome("Slack", "no answer (read timeout)", "redelivered, then sent once")


def test_revoked_webhook_ends_in_the_dlq_then_replays_once(
    slack_app: ModuleType,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
    slack_queues: Queues,
    record_outcome: Any,
) -> None:
    fast(slack_app, slack_error_retries=0)
    webhook.script("seoul", *[Answer(404, "no_service")] * MAX_RECEIVES)
    slack_queues.send("slack_notifier.json")
    slack_queues.drive(slack_app, rounds=MAX_RECEIVES + 2)
    assert webhook.accepted() == []
    assert slack_queues.waiting_in_dlq() == 1  # nothing lost: it waits, with its alarm
    webhook.script("seoul")  # the operator installs a new webhook
    assert facewatch(["dlq", "replay", slack_queues.dlq, "--region", REGION]) == 0
    slack_queues.drive(slack_app, rounds=3)
    slack_queues.drive(slack_app, rounds=3)
    assert len(webhook.accepted("seoul")) == 1
    assert slack_queues.waiting_in_dlq() == 0
    record_outcome(
        "Slack",
        f"revoked webhook (404 no_service) x{MAX_RECEIVES}",
        "in the DLQ after maxReceiveCount; `facewatch dlq replay` then sends it once",
    )


def test_secrets_manager_unavailable_redelivers(
    slack_app: ModuleType,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
    slack_queues: Queues,
    record_outcome: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failures = {"left": 2}

    def unavailable(**_: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "InternalServiceError", "Message": "injected"}}, "GetSecretValue"
            )

    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.secrets-manager.GetSecretValue", unavailable)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    slack_app.default_adapters.cache_clear()
    slack_queues.send("slack_notifier.json")
    slack_queues.drive(slack_app, rounds=6)
    assert len(webhook.accepted("seoul")) == 1
    assert failures["left"] == 0
    record_outcome("Secrets Manager", "GetSecretValue fails twice", "redelivered, then sent once")


def test_sns_throttling_redelivers_and_sends_one_sms(
    sms_app: ModuleType,  # noqa: F811
    topic_arn: str,  # noqa: F811
    record_outcome: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queues = Queues("sms-alerts")
    failures = {"left": 2}

    def throttled(**_: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected"}}, "Publish")

    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.sns.Publish", throttled)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    sms_app.default_adapters.cache_clear()
    queues.send("sms_notifier.json")
    queues.drive(sms_app, rounds=6)
    assert len(sms_sent(topic_arn)) == 1
    assert failures["left"] == 0
    record_outcome("SNS", "Publish throttled twice", "redelivered, then one SMS")
