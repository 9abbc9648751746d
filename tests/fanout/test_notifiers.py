"""Both notifier handlers end to end on moto (Secrets Manager, DynamoDB idempotency, SNS, KVS,
S3) with Slack on a local webhook: once per incident, canaries skipped, failures redelivered."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
from moto.sns.models import sns_backends

from tests.conftest import load_event, load_function
from tests.fanout.builders import FakeContext, alert_detail, envelope, health_detail, sqs_event
from tests.fanout.webhook_server import Answer, LocalWebhook

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
IDEMPOTENCY_TABLE = "facewatch-test-idempotency"
COMMON_ENV = {
    "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE,
    "CLIP_LINK_BASE_URL": "https://fw.acme.io",
    "CLIP_LINK_KEY_SECRET_ARN": "facewatch-test/clip-link-key",  # pragma: allowlist secret
    "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
SLACK_ENV = COMMON_ENV | {
    "SLACK_WEBHOOK_SECRET_ARN": "facewatch-test/slack-webhooks",  # pragma: allowlist secret
    "SLACK_MIN_INTERVAL_SECONDS": "0",
    "SLACK_TIMEOUT_SECONDS": "2",
    "SNAPSHOT_BUCKET_NAME": "facewatch-test-snapshots",
    "SNAPSHOT_TIMEOUT_SECONDS": "1",
}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name="facewatch-test/clip-link-key", SecretString="k" * 32)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="facewatch-test-snapshots",
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
        yield


@pytest.fixture
def webhook(aws: None) -> Iterator[LocalWebhook]:
    with LocalWebhook().running() as server:
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="facewatch-test/slack-webhooks",
            SecretString=json.dumps(
                {
                    "default": server.url("default"),
                    "seoul-hq": server.url("seoul"),
                    "ops": server.url("ops"),
                }
            ),
        )
        yield server


@pytest.fixture
def slack_app(webhook: LocalWebhook, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_function("slack_notifier", SLACK_ENV, monkeypatch)


@pytest.fixture
def topic_arn(aws: None) -> str:
    sns = boto3.client("sns", region_name=REGION)
    arn: str = sns.create_topic(Name="facewatch-test-alerts")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="sms", Endpoint="+821012345678")
    return arn


@pytest.fixture
def sms_app(topic_arn: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_function("sms_notifier", COMMON_ENV | {"ALERTS_TOPIC_ARN": topic_arn}, monkeypatch)


def invoke(app: ModuleType, event: dict[str, Any], remaining_ms: int = 60_000) -> list[str]:
    response = app.lambda_handler(event, FakeContext(remaining_ms=remaining_ms))
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def sms_sent(topic_arn: str) -> list[str]:
    topic = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[topic_arn]
    return [message for _, message, *_ in topic.sent_notifications]


def idempotency_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb", region_name=REGION).scan(
        TableName=IDEMPOTENCY_TABLE
    )["Items"]
    return items


# ---- Slack -----------------------------------------------------------------------------------
def test_sample_event_posts_to_the_sites_webhook(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    assert invoke(slack_app, load_event("slack_notifier.json")) == []
    [posted] = webhook.accepted("seoul")
    blocks = json.dumps(posted["blocks"])
    assert "https://fw.acme.io/clips/INC-7Q2KX4MZ3B1A?t=" in blocks  # signed with the secret key
    assert "no snapshot" in blocks  # no KVS media in moto: the alert went out without it
    [record] = idempotency_items()
    assert record["status"]["S"] == "COMPLETED"
    assert record["id"]["S"].startswith("facewatch-slack#")
    assert int(record["expiration"]["N"]) > 0


def test_same_incident_twice_reaches_slack_once(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    event = load_event("slack_notifier.json")
    duplicate = copy.deepcopy(event)
    duplicate["Records"][0]["messageId"] = "another-delivery-of-the-same-event"
    assert invoke(slack_app, event) == []
    assert invoke(slack_app, duplicate) == []
    assert len(webhook.accepted()) == 1


def test_canary_is_acknowledged_without_sending(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    assert invoke(slack_app, sqs_event([envelope(alert_detail(test=True))])) == []
    assert webhook.posts == []
    assert idempotency_items() == []


def test_slack_failure_is_redelivered_then_sent_once(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    webhook.script("seoul", *[Answer(500, "boom")] * 3)
    slack_app.settings = slack_app.settings.model_copy(  # type: ignore[attr-defined]
        update={"slack_error_retries": 0}
    )
    slack_app.default_adapters.cache_clear()
    event = load_event("slack_notifier.json")
    failed = invoke(slack_app, event)
    assert failed == [event["Records"][0]["messageId"]]
    assert idempotency_items() == []  # a failed send leaves no record: the retry is not skipped
    webhook.script("seoul")
    assert invoke(slack_app, event) == []
    assert len(webhook.accepted("seoul")) == 1


def test_a_bad_message_fails_alone(slack_app: ModuleType, webhook: LocalWebhook) -> None:
    event = sqs_event(
        [
            "not json",
            envelope({"incidentId": "INC-BROKEN"}),  # not an AlertDetail
            envelope(alert_detail("INC-GOOD00000001")),
            envelope({"x": 1}, detail_type="Something Else"),
        ]
    )
    failed = invoke(slack_app, event)
    ids = [r["messageId"] for r in event["Records"]]
    assert failed == [ids[0], ids[1], ids[3]]
    assert len(webhook.accepted("seoul")) == 1


def test_camera_health_goes_to_the_ops_route(slack_app: ModuleType, webhook: LocalWebhook) -> None:
    assert invoke(slack_app, load_event("slack_notifier_health.json")) == []
    [posted] = webhook.accepted("ops")
    assert posted["text"].startswith("Camera seoul-hq / seoul-hq-dock-01 is OFFLINE since 05:10")
    assert invoke(slack_app, load_event("slack_notifier_health.json")) == []
    assert len(webhook.accepted()) == 1  # the same health change is not posted twice


def test_unregistered_camera_goes_to_the_default_route(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    assert invoke(slack_app, sqs_event([envelope(alert_detail(location=None))])) == []
    assert len(webhook.accepted("default")) == 1


def test_near_the_deadline_messages_go_back_unsent(
    slack_app: ModuleType, webhook: LocalWebhook
) -> None:
    event = sqs_event([envelope(alert_detail(f"INC-LATE0000000{n}")) for n in range(3)])
    assert len(invoke(slack_app, event, remaining_ms=5_000)) == 3
    assert webhook.posts == []


def test_cold_start_names_a_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN", raising=False)
    with pytest.raises(Exception, match="SLACK_WEBHOOK_SECRET_ARN"):
        load_function("slack_notifier", {"IDEMPOTENCY_TABLE_NAME": "t"}, monkeypatch)


# ---- SMS -------------------------------------------------------------------------------------
def test_sample_event_is_one_sms_to_the_topic(sms_app: ModuleType, topic_arn: str) -> None:
    assert invoke(sms_app, load_event("sms_notifier.json")) == []
    [text] = sms_sent(topic_arn)
    assert text.startswith("Unknown face: Seoul HQ / Lobby entrance, 14:03 KST. ")
    assert "https://fw.acme.io/clips/INC-7Q2KX4MZ3B1A" in text
    assert len(text) <= 160


def test_same_incident_twice_is_one_sms(sms_app: ModuleType, topic_arn: str) -> None:
    event = load_event("sms_notifier.json")
    assert invoke(sms_app, event) == []
    assert invoke(sms_app, event) == []
    assert len(sms_sent(topic_arn)) == 1


def test_sms_and_slack_keep_separate_idempotency(
    sms_app: ModuleType, slack_app: ModuleType, topic_arn: str, webhook: LocalWebhook
) -> None:
    assert invoke(sms_app, load_event("sms_notifier.json")) == []
    assert invoke(slack_app, load_event("slack_notifier.json")) == []
    assert len(sms_sent(topic_arn)) == 1 and len(webhook.accepted()) == 1


def test_sms_skips_canaries_and_health_events(sms_app: ModuleType, topic_arn: str) -> None:
    event = sqs_event(
        [
            envelope(alert_detail(test=True)),
            envelope(health_detail(), detail_type="Camera Health Changed"),
        ],
        "sms-alerts",
    )
    failed = invoke(sms_app, event)
    assert failed == [event["Records"][1]["messageId"]]  # a misrouted event is not dropped
    assert sms_sent(topic_arn) == []
