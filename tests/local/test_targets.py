"""Rules, targets, queues, secrets and schedules a template may add: handled with no runner code.

fixtures/targets.yaml stands for what the notifier, watchdog and sampler branches add: rules
with Lambda, SNS and SQS targets (and an InputTransformer), a notifier behind an SQS queue
with an event source mapping and a DLQ, a Slack webhook secret and a schedule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from facewatch_tools.local import LocalStack
from tests.local.conftest import LOCAL_FIXTURES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def targets() -> Iterator[LocalStack]:
    with LocalStack(
        stack_name="targets-dev", template_path=LOCAL_FIXTURES / "targets.yaml"
    ) as stack:
        yield stack


def _put(stack: LocalStack, source: str, detail: dict[str, Any]) -> None:
    response = stack.client("events").put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": "Unknown Face Detected",
                "Detail": json.dumps(detail),
                "EventBusName": stack.deployed.outputs["BusName"],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0  # moto never sees the Lambda and SNS targets


def _drain(stack: LocalStack, output: str) -> list[Any]:
    sqs = stack.client("sqs")
    url = stack.deployed.outputs[output]
    bodies: list[Any] = []
    while True:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not found:
            return bodies
        for message in found:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_lambda_sns_and_sqs_targets_all_receive_a_matching_event(targets: LocalStack) -> None:
    _put(targets, "facewatch", {"incidentId": "INC-A", "cameraId": "cam-1"})
    targets.pump()
    recorded = _drain(targets, "RecordQueueUrl")
    events = [r["event"] for r in recorded]
    full = [e for e in events if "detail" in e]
    assert len(full) == 1
    assert full[0]["detail"]["incidentId"] == "INC-A"
    assert full[0]["detail-type"] == "Unknown Face Detected"
    assert full[0]["account"] == targets.account_id
    assert {"summary": "INC-A"} in events  # the InputTransformer was applied
    assert {r["function"] for r in recorded} == {"targets-dev-recorder"}
    [copy] = _drain(targets, "TopicCopyQueueUrl")
    assert json.loads(copy["Message"])["detail"]["incidentId"] == "INC-A"
    [post] = [p for p in targets.slack.posts if "INC-A" in p.text()]
    assert post.route == "default"
    assert post.payload["blocks"][0]["type"] == "section"


def test_a_non_matching_event_reaches_only_its_own_rule(targets: LocalStack) -> None:
    _put(targets, "somebody-else", {"incidentId": "INC-B", "cameraId": "cam-1"})
    targets.pump()
    bodies = _drain(targets, "RecordQueueUrl")
    events = [r["event"] for r in bodies if "event" in r]
    assert [e["source"] for e in events] == ["somebody-else"]
    # SQS targets of the same rule, with InputPath and with a constant Input
    assert {"incidentId": "INC-B", "cameraId": "cam-1"} in bodies
    assert {"constant": True} in bodies
    assert _drain(targets, "TopicCopyQueueUrl") == []
    assert not [p for p in targets.slack.posts if "INC-B" in p.text()]


def test_slack_429_and_500_are_retried_through_the_queue(targets: LocalStack) -> None:
    targets.slack.fail_next(429, retry_after=0)
    targets.slack.fail_next(500)
    _put(targets, "facewatch", {"incidentId": "INC-C", "cameraId": "cam-2"})
    targets.pump()
    assert len([p for p in targets.slack.posts if "INC-C" in p.text()]) == 1
    assert _drain(targets, "NotifyDlqUrl") == []
    _drain(targets, "RecordQueueUrl")
    _drain(targets, "TopicCopyQueueUrl")


def test_a_failing_lambda_target_is_retried_then_reported(targets: LocalStack) -> None:
    _put(targets, "somebody-else", {"fail": True})
    targets.pump()
    _drain(targets, "RecordQueueUrl")
    [failure] = [f for f in targets.failed_deliveries() if "asked to fail" in f.error]
    assert failure.rule == "OtherRule"
    runtime = targets.runtimes["targets-dev-recorder"]
    assert sum(1 for i in runtime.invocations if i.error and "asked to fail" in i.error) == 3


def test_a_schedule_runs_on_demand(targets: LocalStack) -> None:
    [schedule] = targets.deployed.schedules
    assert (schedule.rule, schedule.expression) == ("NightlyRule", "rate(1 hour)")
    assert targets.run_schedule("NightlyRule") == 1
    [recorded] = _drain(targets, "RecordQueueUrl")
    event = recorded["event"]
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert event["resources"][0].endswith(":rule/" + targets.deployed.physical_id("NightlyRule"))
    targets.invoke("RecorderFunction", {"detail-type": "direct"})
    [direct] = _drain(targets, "RecordQueueUrl")
    assert direct["event"] == {"detail-type": "direct"}


def test_the_slack_secret_points_at_the_sink(targets: LocalStack) -> None:
    secret = targets.runtimes["targets-dev-slack-notifier"].environment["SLACK_SECRET_ARN"]
    value = json.loads(
        targets.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    )
    assert value == {"default": targets.slack.url("default"), "ops": targets.slack.url("ops")}


def test_sms_sent_through_sns_are_listed(targets: LocalStack) -> None:
    targets.client("sns").publish(PhoneNumber="+821012345678", Message="INC-D at cam-1")
    assert ("+821012345678", "INC-D at cam-1") in targets.sms_messages()
