"""Issue 14 item 5: Slack is answered first. The front function only verifies, authorises and
records the click (SQS, durable); the worker applies it and updates the message afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from facewatch.audit.slack_front import slack_signature
from facewatch.audit.slack_requests import RecordedClick
from tests.conftest import ROOT
from tests.slack_world import FRONT_ENV, World, signed

from .conftest import NOW

pytestmark = pytest.mark.integration


def test_the_answer_comes_before_any_incident_work(world: World) -> None:
    response = world.answer(signed("escalate", NOW))
    assert response["statusCode"] == 200 and response["body"] == ""
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "open"  # nothing applied yet
    assert world.escalation.sent == [] and world.responder.messages == []
    assert world.recorded() == 1  # but the click is on the queue
    assert world.drain() == 1
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "escalated"
    assert len(world.escalation.sent) == 1 and len(world.responder.messages) == 1


def test_the_recorded_click_is_the_signed_payload(world: World) -> None:
    event = signed("acknowledge", NOW)
    world.answer(event)
    (message,) = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"]
    click = RecordedClick.model_validate(json.loads(message["Body"]))
    assert click.received_at == NOW and click.parsed().actions[0].value == "inc-demo-0001"


def test_a_redelivered_click_changes_nothing_twice(world: World) -> None:
    world.answer(signed("escalate", NOW))
    (message,) = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"]
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=message["Body"])  # at-least-once
    world.sqs.change_message_visibility(
        QueueUrl=world.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    world.drain()
    assert len(world.escalation.sent) == 1 and len(world.publisher.published) == 1


def test_a_click_that_cannot_be_recorded_is_503_so_slack_shows_it_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_click: Any) -> None:
        raise RuntimeError("SQS unavailable")

    monkeypatch.setattr(world.deps.clicks, "record", broken)
    assert world.answer(signed("acknowledge", NOW))["statusCode"] == 503


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=10**11))
def test_our_signature_is_slacks(body: str, timestamp: int) -> None:
    secret = "8f742231b10e8888abcd99yyyzzz85a5"  # pragma: allowlist secret
    expected = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert slack_signature(secret, str(timestamp), body) == expected


def test_the_front_function_imports_only_the_stdlib_and_its_own_modules() -> None:
    """Each of these cost the cold start measurably (docs/benchmarks.md): botocore 0.4 CPU-s
    with its clients, pydantic 0.15, Powertools 0.04, dataclasses (inspect) 0.015."""
    front = str(ROOT / "functions" / "slack_actions" / "app.py")
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('front', {front!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**FRONT_ENV, "AWS_DEFAULT_REGION": "ap-northeast-2", "PATH": "/usr/bin:/bin"}
    loaded = set(json.loads(subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    ).stdout))  # fmt: skip
    heavy = {
        "boto3",
        "botocore",
        "pydantic",
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "slack_sdk",
        "urllib3",
        "dataclasses",
        "inspect",
        "facewatch.settings",
        "facewatch.observability",
        "facewatch.audit.slack_requests",
        "facewatch.audit.history",
        "facewatch.alerts.bus",
    }
    assert not heavy & loaded
    ours = {m for m in loaded if m.startswith("facewatch")}
    assert ours == {
        "facewatch",
        "facewatch.audit",
        "facewatch.audit.slack_front",
        "facewatch.aws_json",
        "facewatch.aws_roots",
        "facewatch.web",
    }
