"""The Slack buttons end to end on moto: front function -> clicks queue (SQS) -> click worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from slack_sdk.signature import SignatureVerifier

from facewatch.audit.history import IncidentHistory
from facewatch.audit.slack_actions import SlackActionDeps
from facewatch.audit.slack_front import (
    DynamoReplayStore,
    SlackFrontDeps,
    SlackRequestGuard,
    SqsClickQueue,
    UserGroups,
)
from facewatch.audit.slack_requests import SlackAllowList
from facewatch.detections.store import DynamoIncidentStore
from tests.conftest import load_event, load_function
from tests.fakes import FakePublisher

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # pragma: allowlist secret - test signing secret
LINK_KEY = b"test-clip-link-key"
REGION = "ap-northeast-2"
BASE_URL = "https://abc123.execute-api.ap-northeast-2.amazonaws.com"
# The sample events' team and channel (events/slack_actions_*.json).
ALLOWED = SlackAllowList(team_ids=frozenset({"T0FACEWATCH"}), channel_ids=frozenset({"C0SECURITY"}))
FRONT_ENV = {
    "TABLE_NAME": "facewatch-test-incidents",
    # pragma: allowlist nextline secret
    "SLACK_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:slack",
    # pragma: allowlist nextline secret
    "SLACK_ALLOW_LIST_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-2:1:secret:allow",
    "SLACK_CLICKS_QUEUE_URL": "https://sqs.ap-northeast-2.amazonaws.com/123456789012/clicks",
    "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
}
CLICKS_ENV = {
    "TABLE_NAME": "facewatch-test-incidents",
    "EVENT_BUS_NAME": "facewatch-test",
    # pragma: allowlist nextline secret
    "CLIP_LINK_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:link",
    "CLIP_LINK_BASE_URL": BASE_URL,
    "ESCALATION_TOPIC_ARN": "arn:aws:sns:ap-northeast-2:123456789012:facewatch-test-escalation",
    "POWERTOOLS_METRICS_NAMESPACE": "FacewatchTest",
}


@dataclass
class FakeResponder:
    messages: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)

    def replace(self, response_url: str, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        self.messages.append((response_url, text, list(blocks)))


@dataclass
class FakeEscalation:
    sent: list[tuple[str, str]] = field(default_factory=list)
    fail: bool = False

    def escalate(self, message: str, incident_id: str) -> None:
        if self.fail:
            raise RuntimeError("SNS throttled")
        self.sent.append((message, incident_id))


class Context:
    function_name = "facewatch-test-slack-actions"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:x"
    aws_request_id = "req-1"


@dataclass
class World:
    front_app: ModuleType
    clicks_app: ModuleType
    deps: SlackFrontDeps
    click_deps: SlackActionDeps
    responder: FakeResponder
    publisher: FakePublisher
    escalation: FakeEscalation
    history: IncidentHistory
    clock: list[float]
    sqs: Any
    queue_url: str
    allowed: list[SlackAllowList]

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """The front function only: what Slack gets back."""
        result: dict[str, Any] = self.front_app.lambda_handler(event, Context(), deps=self.deps)
        return result

    def drain(self) -> int:
        """Run the click worker on everything recorded (an SQS event per message)."""
        done = 0
        while messages := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10
        ).get("Messages", []):
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:ap-northeast-2:123456789012:clicks",
                    "awsRegion": REGION,
                }
                for m in messages
            ]
            result = self.clicks_app.lambda_handler(
                {"Records": records}, Context(), deps=self.click_deps
            )
            assert result["batchItemFailures"] == []
            for m in messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            done += len(messages)
        return done

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.answer(event)
        self.drain()
        return response

    def recorded(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


def make_world(
    dynamodb: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    table: str,
    now: float,
    incident_item: dict[str, Any] | None,
    user_groups: UserGroups | None = None,
) -> World:
    if incident_item is not None:
        dynamodb.put_item(TableName=table, Item=incident_item)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="facewatch-test-slack-clicks")["QueueUrl"]
    clock = [now]
    history = IncidentHistory(dynamodb, table)
    responder, publisher, escalation = FakeResponder(), FakePublisher(), FakeEscalation()
    allowed = [ALLOWED]
    deps = SlackFrontDeps(
        guard=SlackRequestGuard(lambda: SECRET, now=lambda: clock[0]),
        allow_list=lambda: allowed[0],
        replays=DynamoReplayStore(dynamodb, table),
        clicks=SqsClickQueue(sqs, queue_url),
        user_groups=user_groups,
    )
    click_deps = SlackActionDeps(
        history=history,
        responder=responder,
        publisher=publisher,
        escalation=escalation,
        clip_link_key=lambda: LINK_KEY,
    )
    front = load_function("slack_actions", FRONT_ENV, monkeypatch)
    clicks = load_function("slack_clicks", CLICKS_ENV, monkeypatch)
    monkeypatch.setattr(front, "clock", lambda: clock[0])
    monkeypatch.setattr(clicks, "clock", lambda: clock[0])
    return World(
        front, clicks, deps, click_deps, responder, publisher, escalation, history, clock, sqs,
        queue_url, allowed,
    )  # fmt: skip


def signed(name: str, at: float, secret: str = SECRET, body: str | None = None) -> dict[str, Any]:
    event = load_event(f"slack_actions_{name}.json")
    if body is not None:
        event["body"] = body
    timestamp = str(int(at))
    signature = SignatureVerifier(secret).generate_signature(
        timestamp=timestamp, body=event["body"]
    )
    event["headers"]["x-slack-request-timestamp"] = timestamp
    event["headers"]["x-slack-signature"] = signature
    return event


def payload_of(event: dict[str, Any]) -> dict[str, Any]:
    from urllib.parse import parse_qs  # noqa: PLC0415

    data: dict[str, Any] = json.loads(parse_qs(event["body"])["payload"][0])
    return data


def incident_for(dynamodb: Any, table: str, first_seen: float) -> dict[str, Any]:
    from tests.audit.conftest import incident_item, incident_state  # noqa: PLC0415

    store = DynamoIncidentStore(dynamodb, table, retention_days=400)
    return incident_item(store, incident_state("inc-demo-0001", "hq-lobby-1", first_seen), "hq")
