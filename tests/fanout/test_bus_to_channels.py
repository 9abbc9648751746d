"""Bus -> rules (as the template defines them) -> SQS on moto -> both notifiers -> Slack and SMS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch_tools.template import resource
from tests.conftest import load_function
from tests.fanout.builders import FakeContext, alert_detail, health_detail, sqs_record
from tests.fanout.test_notifiers import COMMON_ENV, IDEMPOTENCY_TABLE, REGION, SLACK_ENV, sms_sent
from tests.fanout.webhook_server import LocalWebhook

pytestmark = pytest.mark.integration

BUS = "facewatch-test"


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws(), LocalWebhook().running() as webhook:
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        events.create_event_bus(Name=BUS)
        queues = {
            name: queue(sqs, f"fw-{name}") for name in ("slack", "slack-dlq", "sms", "sms-dlq")
        }
        arns = {name: arn for name, (_, arn) in queues.items()}
        # The rules exactly as template.yaml writes them, targets mapped to these queues.
        rules = ("UnknownFaceFanoutRule", "CameraHealthFanoutRule", "IncidentLifecycleFanoutRule")
        for rule_name in rules:
            props = resource(rule_name)["Properties"]
            events.put_rule(
                Name=rule_name, EventBusName=BUS, EventPattern=json.dumps(props["EventPattern"])
            )
            targets = []
            for target in props["Targets"]:
                channel = "sms" if target["Id"] == "sms" else "slack"
                targets.append(
                    {
                        "Id": target["Id"],
                        "Arn": arns[channel],
                        "RetryPolicy": target["RetryPolicy"],
                        "DeadLetterConfig": {"Arn": arns[f"{channel}-dlq"]},
                    }
                )
            events.put_targets(Rule=rule_name, EventBusName=BUS, Targets=targets)
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name="facewatch-test/clip-link-key", SecretString="k" * 32)
        secrets.create_secret(
            Name="facewatch-test/slack-webhooks",
            SecretString=json.dumps({"default": webhook.url("default"), "ops": webhook.url("ops")}),
        )
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="facewatch-test-snapshots",
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
        topic = sns.create_topic(Name="fw-alerts")["TopicArn"]
        yield {
            "sqs": sqs,
            "events": events,
            "queues": {name: url for name, (url, _) in queues.items()},
            "webhook": webhook,
            "topic": topic,
            "slack": load_function("slack_notifier", SLACK_ENV, monkeypatch),
            "sms": load_function(
                "sms_notifier", COMMON_ENV | {"ALERTS_TOPIC_ARN": topic}, monkeypatch
            ),
        }


def publish(world: dict[str, Any], detail_type: str, detail: dict[str, Any]) -> None:
    response = world["events"].put_events(
        Entries=[
            {
                "Source": "facewatch",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": BUS,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def poll(world: dict[str, Any], channel: str, app: ModuleType) -> int:
    """What the event source mapping does: receive, invoke, delete all but the failures."""
    url = world["queues"][channel]
    messages = (
        world["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    )
    if not messages:
        return 0
    event = {"Records": [sqs_record(m["Body"], m["MessageId"], channel) for m in messages]}
    failed = {
        f["itemIdentifier"] for f in app.lambda_handler(event, FakeContext())["batchItemFailures"]
    }
    for message in messages:
        if message["MessageId"] not in failed:
            world["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def test_one_alert_reaches_slack_and_sms_once_each(world: dict[str, Any]) -> None:
    detail = alert_detail()
    publish(world, "Unknown Face Detected", detail)
    publish(world, "Unknown Face Detected", detail)  # the publisher retried: same incident
    assert poll(world, "slack", world["slack"]) == 2
    assert poll(world, "sms", world["sms"]) == 2
    assert len(world["webhook"].accepted("default")) == 1
    assert len(sms_sent(world["topic"])) == 1


def test_health_change_reaches_only_slack_ops(world: dict[str, Any]) -> None:
    publish(world, "Camera Health Changed", health_detail())
    assert poll(world, "sms", world["sms"]) == 0
    assert poll(world, "slack", world["slack"]) == 1
    assert len(world["webhook"].accepted("ops")) == 1


def test_an_incident_update_reaches_only_slack(world: dict[str, Any]) -> None:
    detail = alert_detail()
    update = {
        key: detail[key]
        for key in ("incidentId", "cameraId", "firstSeen", "lastSeen", "detections", "bestFace")
    } | {"schemaVersion": "1.0", "updatedAt": detail["lastSeen"]}
    publish(world, "Incident Updated", update)
    assert poll(world, "sms", world["sms"]) == 0  # an SMS is never updated
    assert poll(world, "slack", world["slack"]) == 1  # webhook mode here: nothing to update
    assert world["webhook"].accepted("default") == []


def test_other_detail_types_reach_no_notifier(world: dict[str, Any]) -> None:
    publish(world, "Incident Archived", {"incidentId": "INC-7Q2KX4MZ3B1A"})
    assert poll(world, "slack", world["slack"]) == 0
    assert poll(world, "sms", world["sms"]) == 0
