"""EventBridge delivery where moto stops: Lambda, SNS and SQS rule targets.

moto matches each rule's pattern and applies its InputTransformer, then puts the event in the
target's relay queue (see deploy.py). The relay finishes the target's input as EventBridge
does (Input, InputPath, the event's "account" that moto leaves out) and delivers it: a Lambda
target is an asynchronous invocation (the function's own retries: two more attempts after a
function error, as Lambda's default), an SNS target a Publish, an SQS target a SendMessage.
The tap keeps every event published on each bus, with the time the runner saw it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from facewatch_tools.local.deploy import RelaySpec
from facewatch_tools.local.poller import queue_url

ASYNC_RETRIES = 2


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    rule: str
    target_arn: str
    error: str
    event: str


@dataclass(frozen=True, slots=True)
class BusEvent:
    bus: str
    seen_at: float
    event: dict[str, Any]

    @property
    def detail_type(self) -> str:
        return str(self.event.get("detail-type", ""))

    @property
    def detail(self) -> dict[str, Any]:
        detail = self.event.get("detail")
        return detail if isinstance(detail, dict) else {}


def _drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = found.get("Messages", [])
        if not batch:
            return messages
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )


def json_path(event: Any, path: str) -> Any:
    """A target's InputPath: ``$``, ``$.detail``, ``$.detail.camera`` (dotted keys only)."""
    value = event
    for key in [k for k in path.removeprefix("$").split(".") if k]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass
class Relay:
    spec: RelaySpec
    sqs: Any
    sns: Any
    invoke_async: Callable[[str, Any], None]  # (function arn, event); raises on a function error
    account_id: str = ""
    failures: list[FailedDelivery] = field(default_factory=list)
    delivered: int = 0

    def poll(self, *, drain: bool = False) -> int:
        messages = _drain_queue(self.sqs, self.spec.queue_url)
        for message in messages:
            self.deliver(message["Body"])
        return len(messages)

    def _input(self, body: str) -> str:
        """The target's input from the event moto relayed (already transformed if it has an
        InputTransformer)."""
        options = self.spec.options
        if options.get("InputTransformer"):
            return body
        if options.get("Input") is not None:
            return str(options["Input"])
        event = json.loads(body)
        event.setdefault("account", self.account_id)
        if options.get("InputPath"):
            return json.dumps(json_path(event, str(options["InputPath"])))
        return json.dumps(event)

    def deliver(self, body: str) -> None:
        """Deliver one event (as moto relayed it) to the target."""
        spec = self.spec
        service = spec.target_service
        body = self._input(body)
        if service == "lambda":
            try:
                payload: Any = json.loads(body)
            except ValueError:
                payload = body  # an Input that is not JSON reaches the function as a string
            error = ""
            for _ in range(1 + ASYNC_RETRIES):
                try:
                    self.invoke_async(spec.target_arn, payload)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    continue
                self.delivered += 1
                return
            self.failures.append(FailedDelivery(spec.rule, spec.target_arn, error, body))
        elif service == "sns":
            self.sns.publish(TopicArn=spec.target_arn, Message=body)
            self.delivered += 1
        elif service == "sqs":
            extra = {}
            if spec.options.get("MessageGroupId"):
                extra["MessageGroupId"] = str(spec.options["MessageGroupId"])
            self.sqs.send_message(
                QueueUrl=queue_url(spec.target_arn, self.sqs), MessageBody=body, **extra
            )
            self.delivered += 1
        else:
            self.failures.append(
                FailedDelivery(
                    spec.rule, spec.target_arn, f"{service} targets are not emulated", body
                )
            )


@dataclass
class Tap:
    bus: str
    queue_url: str
    sqs: Any
    clock: Callable[[], float]
    account_id: str = ""
    events: list[BusEvent] = field(default_factory=list)

    def poll(self, *, drain: bool = False) -> int:
        messages = _drain_queue(self.sqs, self.queue_url)
        now = self.clock()
        for message in messages:
            event = json.loads(message["Body"])
            event.setdefault("account", self.account_id)  # moto leaves it out
            self.events.append(BusEvent(self.bus, now, event))
        return len(messages)

    def backlog(self) -> int:
        return 0
