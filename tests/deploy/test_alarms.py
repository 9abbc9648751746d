"""Alarms that reach someone: every alarm notifies the ops topic (KMS), scheduled functions have
error alarms, the bus has a dead-letter queue with an alarm, alarm state changes reach the ops
Slack route, and `facewatch subscribers add --ops` subscribes e-mail and phones to the topic."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch_tools.cli import main
from facewatch_tools.template import ROOT, load_template
from tests.conftest import load_event
from tests.fanout.test_notifiers import (  # fixtures: moto, the local webhook, the function
    aws,  # noqa: F401
    invoke,
    slack_app,  # noqa: F401
    webhook,  # noqa: F401
)
from tests.fanout.webhook_server import LocalWebhook

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def test_every_alarm_notifies_the_encrypted_ops_topic_both_ways() -> None:
    topic = RESOURCES["OpsAlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "DataKey"} and "DisplayName" not in topic
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 13
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert {"Ref": "OpsAlarmTopic"} in props["AlarmActions"], name
        assert {"Ref": "OpsAlarmTopic"} in props["OKActions"], name
    key = RESOURCES["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    services = [s["Principal"].get("Service") for s in key if isinstance(s["Principal"], dict)]
    assert any("cloudwatch.amazonaws.com" in (s or []) for s in services)  # may use the key


def scheduled_functions() -> set[str]:
    return {
        name
        for name, fn in of_type("AWS::Serverless::Function").items()
        if any(
            e.get("Type") in {"Schedule", "ScheduleV2"}
            for e in (fn["Properties"].get("Events") or {}).values()
        )
    }


def test_every_scheduled_function_has_an_error_alarm() -> None:
    scheduled = scheduled_functions()
    assert {"WatchdogFunction", "AlertSweeperFunction", "SamplerFunction"} <= scheduled
    watched = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/Lambda"
        and a["Properties"].get("MetricName") == "Errors"
    }
    assert scheduled <= watched, scheduled - watched


def test_the_bus_has_a_dead_letter_queue_that_alarms() -> None:
    bus = RESOURCES["EventBus"]["Properties"]
    assert bus["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventBusDeadLetterQueue", "Arn"]}}
    queue = RESOURCES["EventBusDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    (statement,) = RESOURCES["EventBusDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]}}
    }
    alarm = RESOURCES["EventBusDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["EventBusDeadLetterQueue", "QueueName"]
    }


def test_every_rule_target_on_the_bus_has_a_dead_letter_queue() -> None:
    for name, rule in of_type("AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            assert "DeadLetterConfig" in target, f"{name}.{target['Id']}"


def test_alarm_state_changes_of_this_stack_go_to_the_slack_queue() -> None:
    rule = RESOURCES["AlarmStateFanoutRule"]["Properties"]
    assert "EventBusName" not in rule  # CloudWatch publishes on the default bus
    assert rule["EventPattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    (prefix,) = rule["EventPattern"]["resources"]
    assert prefix["prefix"]["Fn::Sub"].endswith(":alarm:${AWS::StackName}-")
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["SlackAlertsQueue", "Arn"]}
    policy = RESOURCES["FanoutQueuesPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert {"Fn::GetAtt": ["AlarmStateFanoutRule", "Arn"]} in policy["Condition"]["ArnEquals"][
        "aws:SourceArn"
    ]


def test_an_alarm_state_change_is_posted_to_the_ops_route_once(
    slack_app: Any,  # noqa: F811
    webhook: LocalWebhook,  # noqa: F811
) -> None:
    event = load_event("slack_notifier_alarm.json")
    assert invoke(slack_app, event) == []
    [posted] = webhook.accepted("ops")
    assert posted["text"].startswith("ALARM: facewatch-dev-WatchdogErrorsAlarm-")
    assert "camera watchdog failed" in posted["text"]
    assert invoke(slack_app, event) == []  # redelivered: not posted again
    assert len(webhook.accepted()) == 1


REGION = "ap-northeast-2"


@pytest.fixture
def ops_topic() -> Any:
    with mock_aws():
        yield boto3.client("sns", region_name=REGION).create_topic(Name="fw-ops")["TopicArn"]


def endpoints(arn: str) -> list[tuple[str, str]]:
    subs = boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=arn)
    return sorted((s["Protocol"], s["Endpoint"]) for s in subs["Subscriptions"])


def test_subscribers_add_ops_takes_email_and_phone(
    ops_topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--ops", "--topic-arn", ops_topic, "--region", REGION]
    assert main(["subscribers", "add", "oncall@acme.example", *common]) == 0
    assert "confirmation link" in capsys.readouterr().out
    assert main(["subscribers", "add", "+82 10-1234-5678", *common]) == 0
    assert main(["subscribers", "add", "oncall@acme.example", *common]) == 0  # idempotent
    assert endpoints(ops_topic) == [("email", "oncall@acme.example"), ("sms", "+821012345678")]
    capsys.readouterr()
    assert main(["subscribers", "list", *common]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]  # a header
    assert listed == ["+821012345678", "oncall@acme.example"]  # each with its scope after it
    assert main(["subscribers", "remove", "oncall@acme.example", *common]) == 0
    assert endpoints(ops_topic) == [("sms", "+821012345678")]


def test_email_is_for_ops_only(ops_topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["subscribers", "add", "a@b.example", "--topic-arn", ops_topic]) == 2
    assert "--ops" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["subscribers", "add", "not-an@address", "--ops", "--topic-arn", ops_topic])
