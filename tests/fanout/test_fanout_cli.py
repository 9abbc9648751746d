"""`facewatch subscribers` and `facewatch dlq replay` on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from facewatch_tools import aws_targets
from facewatch_tools.cli import main
from facewatch_tools.local.fanout import create_local_secrets
from tests.fanout.builders import alert_detail, envelope

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def sms_endpoints(topic_arn: str) -> list[str]:
    subs = boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=topic_arn)
    return sorted(s["Endpoint"] for s in subs["Subscriptions"])


def test_subscribers_add_list_remove(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    arn = boto3.client("sns", region_name=REGION).create_topic(Name="fw-alerts")["TopicArn"]
    common = ["--topic-arn", arn, "--region", REGION]
    assert main(["subscribers", "add", "+82 10-1234-5678", *common]) == 0
    assert main(["subscribers", "add", "+821012345678", *common]) == 0  # idempotent
    assert main(["subscribers", "add", "+4915112345678", *common]) == 0
    assert sms_endpoints(arn) == ["+4915112345678", "+821012345678"]
    capsys.readouterr()
    assert main(["subscribers", "list", *common]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ENDPOINT        PROTOCOL  SCOPE",
        "+4915112345678  sms       org-wide",
        "+821012345678   sms       org-wide",
    ]
    assert main(["subscribers", "remove", "+821012345678", *common]) == 0
    assert sms_endpoints(arn) == ["+4915112345678"]
    assert main(["subscribers", "remove", "+821012345678", *common]) == 1


def test_subscribers_scoped_to_a_site_and_severity(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sns = boto3.client("sns", region_name=REGION)
    arn = sns.create_topic(Name="fw-alerts")["TopicArn"]
    common = ["--topic-arn", arn, "--region", REGION]
    assert main(["subscribers", "add", "+821012345678", "--site", "seoul-hq", *common]) == 0
    assert "(sites seoul-hq)" in capsys.readouterr().out
    assert main(["subscribers", "add", "+4915112345678", "--site", "berlin", "--severity",
                 "high", *common]) == 0  # fmt: skip
    policies = {
        sub["Endpoint"]: json.loads(
            sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"][
                "FilterPolicy"
            ]
        )
        for sub in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    }
    assert policies == {
        "+821012345678": {"site": ["seoul-hq"]},
        "+4915112345678": {"site": ["berlin"], "severity": ["high"]},
    }
    # Adding again with other flags changes the scope; without --site the phone is org-wide.
    assert main(["subscribers", "add", "+821012345678", *common]) == 0
    capsys.readouterr()
    assert main(["subscribers", "list", *common]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ENDPOINT        PROTOCOL  SCOPE",
        "+4915112345678  sms       sites berlin; severity high",
        "+821012345678   sms       org-wide",
    ]


def test_subscribers_refuse_a_bad_site_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["subscribers", "add", "+821012345678", "--site", "Seoul HQ", "--topic-arn", "x"])
    assert "not a site id" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["01012345678", "+0123456789", "+82abc", "+1234"])
def test_subscribers_reject_non_e164(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["subscribers", "add", bad, "--topic-arn", "arn:aws:sns:x:1:t"])
    assert exit_info.value.code == 2
    assert "E.164" in capsys.readouterr().err


def test_subscribers_find_the_topic_from_the_stack(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = boto3.client("sns", region_name=REGION).create_topic(Name="fw-alerts")["TopicArn"]
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)  # moto's CloudFormation costs seconds to start
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "facewatch-test",
                    "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": "AlertsTopicArn", "OutputValue": arn}],
                }
            ]
        },
        {"StackName": "facewatch-test"},
    )
    real_client = aws_targets.client
    monkeypatch.setattr(
        aws_targets,
        "client",
        lambda service, args: (
            cloudformation if service == "cloudformation" else real_client(service, args)
        ),
    )
    with stubber:
        assert (
            main(
                [
                    "subscribers",
                    "add",
                    "+821012345678",
                    "--stack",
                    "facewatch-test",
                    "--region",
                    REGION,
                ]
            )
            == 0
        )
    assert sms_endpoints(arn) == ["+821012345678"]


def make_queues() -> tuple[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="fw-slack-alerts-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    source = sqs.create_queue(
        QueueName="fw-slack-alerts",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})
        },
    )["QueueUrl"]
    for n in range(12):
        sqs.send_message(
            QueueUrl=dlq, MessageBody=json.dumps(envelope(alert_detail(f"INC-DLQ{n:09d}")))
        )
    sqs.send_message(QueueUrl=dlq, MessageBody="not an event")
    return dlq, source


def drain(url: str) -> list[str]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return bodies


def test_replay_redrives_to_the_source_queue_and_keeps_what_is_not_an_event(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    dlq, source = make_queues()
    assert main(["dlq", "replay", "fw-slack-alerts-dlq", "--region", REGION]) == 1  # one kept
    out = capsys.readouterr()
    assert "resent 12 message(s)" in out.out and "1 kept" in out.out
    assert "not an EventBridge event" in out.err
    resent = [json.loads(b)["detail"]["incidentId"] for b in drain(source)]
    assert sorted(resent) == [f"INC-DLQ{n:09d}" for n in range(12)]
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=dlq,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"])
        + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )


def test_replay_to_the_bus(aws: None) -> None:
    dlq, _ = make_queues()
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="fw-bus")
    capture = sqs.create_queue(QueueName="capture")["QueueUrl"]
    capture_arn = sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="all", EventBusName="fw-bus", EventPattern=json.dumps({"source": ["facewatch"]})
    )
    events.put_targets(Rule="all", EventBusName="fw-bus", Targets=[{"Id": "q", "Arn": capture_arn}])
    assert main(["dlq", "replay", dlq, "--to-bus", "fw-bus", "--region", REGION]) == 1
    replayed = [json.loads(b) for b in drain(capture)]
    assert len(replayed) == 12
    assert {e["detail-type"] for e in replayed} == {"Unknown Face Detected"}


def test_replay_of_an_unknown_queue_is_a_clear_error(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "replay", "no-such-queue", "--region", REGION]) == 1
    assert "error:" in capsys.readouterr().err


def test_local_mode_creates_the_secrets_moto_cloudformation_skips(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    env = create_local_secrets(client, "dev", {"default": "http://127.0.0.1:9/default"})
    assert set(env) == {"SLACK_WEBHOOK_SECRET_ARN", "CLIP_LINK_KEY_SECRET_ARN"}
    webhooks = json.loads(
        client.get_secret_value(SecretId=env["SLACK_WEBHOOK_SECRET_ARN"])["SecretString"]
    )
    assert webhooks == {"default": "http://127.0.0.1:9/default"}
    assert (
        client.describe_secret(SecretId=env["CLIP_LINK_KEY_SECRET_ARN"])["Name"]
        == "facewatch/dev/clip-link-key"
    )
    again = create_local_secrets(client, "dev", {"default": "http://127.0.0.1:9/other"})
    assert again == env  # a second demo run reuses them
