"""The fan-out part of template.yaml keeps its delivery guarantees and matches the code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from facewatch.alerts.settings import SlackNotifierSettings, SmsNotifierSettings
from facewatch_tools.template import main_template, parameter_defaults, resource

pytestmark = pytest.mark.usefixtures("no_network")

RULES = ["UnknownFaceFanoutRule", "CameraHealthFanoutRule"]
QUEUES = {
    "SlackAlertsQueue": "SlackAlertsDeadLetterQueue",
    "SmsAlertsQueue": "SmsAlertsDeadLetterQueue",
}


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in main_template()["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_target_has_retries_and_an_encrypted_dlq(rule: str) -> None:
    rule_props = resource(rule)["Properties"]
    assert rule_props["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}
    for target in rule_props["Targets"]:
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert resource(dlq)["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}


def test_queues_redrive_to_their_dlq_and_every_dlq_alarms() -> None:
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in resources_of("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    for queue, dlq in QUEUES.items():
        props = resource(queue)["Properties"]
        assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
        assert props["KmsMasterKeyId"] == {"Ref": "DataKey"}
        assert dlq in alarmed


def test_queue_policy_lets_only_our_rules_send() -> None:
    statements = resource("FanoutQueuesPolicy")["Properties"]["PolicyDocument"]["Statement"]
    for statement in statements:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]


@pytest.mark.parametrize(
    ("mapping", "concurrency"),
    [("SlackNotifierQueueMapping", 2), ("SmsNotifierQueueMapping", 5)],
)
def test_notifier_mappings_report_partial_failures_and_bound_concurrency(
    mapping: str, concurrency: int
) -> None:
    props = resource(mapping)["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"]["MaximumConcurrency"] == concurrency
    assert props["BatchSize"] <= 10


@pytest.mark.parametrize(
    ("function", "settings"),
    [
        ("SlackNotifierFunction", SlackNotifierSettings),
        ("SmsNotifierFunction", SmsNotifierSettings),
    ],
)
def test_function_environment_is_exactly_its_settings(
    function: str, settings: type[BaseModel]
) -> None:
    """The local stack runs handlers from the template's environment: nothing may be missing."""
    env = resource(function)["Properties"]["Environment"]["Variables"]
    aliases = {f.alias for f in settings.model_fields.values()}
    assert set(env) == aliases


def test_function_timeout_fits_the_queue_visibility() -> None:
    for function, queue in [
        ("SlackNotifierFunction", "SlackAlertsQueue"),
        ("SmsNotifierFunction", "SmsAlertsQueue"),
    ]:
        timeout = resource(function)["Properties"]["Timeout"]
        assert resource(queue)["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_snapshot_bucket_is_private_encrypted_and_expires() -> None:
    props = resource("SnapshotBucket")["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == {"Ref": "SnapshotRetentionDays"}
    assert parameter_defaults()["SnapshotRetentionDays"] == "30"
    assert parameter_defaults()["SnapshotTimeoutSeconds"] == "2"


def test_no_secret_value_in_the_template() -> None:
    for name, secret in resources_of("AWS::SecretsManager::Secret").items():
        if name == "SlackAllowListSecret":  # ids from the stack's parameters, not a credential
            continue
        assert "SecretString" not in secret["Properties"], name
        assert secret["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}


def test_alert_topic_is_encrypted_and_has_no_display_name() -> None:
    props = resource("AlertsTopic")["Properties"]
    assert props["KmsMasterKeyId"] == {"Ref": "DataKey"}
    assert "DisplayName" not in props  # SNS would prefix every SMS with it


def test_settings_refuse_a_link_base_without_a_signing_key() -> None:
    with pytest.raises(Exception, match="CLIP_LINK_KEY_SECRET_ARN"):
        SmsNotifierSettings.from_env(
            {
                "IDEMPOTENCY_TABLE_NAME": "t",
                "ALERTS_TOPIC_ARN": "arn:aws:sns:ap-northeast-2:111122223333:alerts",
                "CLIP_LINK_BASE_URL": "https://fw.acme.io",
            }
        )


def test_settings_name_every_bad_variable() -> None:
    with pytest.raises(Exception, match="ALERTS_TOPIC_ARN") as error:
        SmsNotifierSettings.from_env(
            {"IDEMPOTENCY_TABLE_NAME": "t", "ALERTS_TOPIC_ARN": "alerts", "CLIP_LINK_TTL_DAYS": "0"}
        )
    assert "CLIP_LINK_TTL_DAYS" in str(error.value)
    defaults = SlackNotifierSettings.from_env(
        {"IDEMPOTENCY_TABLE_NAME": "t", "SLACK_WEBHOOK_SECRET_ARN": "s", "CLIP_LINK_BASE_URL": ""}
    )
    assert (defaults.snapshot_timeout_seconds, defaults.slack_min_interval_seconds) == (2.0, 1.0)
    assert defaults.clip_link_base_url is None  # "" from the template means: not configured
