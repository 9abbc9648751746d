"""The Slack front function as deployed: its own clients (facewatch.aws_json), settings and
allow-list reader, nothing injected, against a moto server.

The other Slack tests pass their own dependencies; these prove the cold-start wiring keeps the
guarantees: signature and allow-list before anything is written, the click on the queue before
the 200, a replay refused, an unset signing secret a 503, no secret in any log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, quote

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from tests.audit.conftest import create_table
from tests.conftest import load_function
from tests.slack_world import Context, payload_of, signed

pytestmark = pytest.mark.integration
REGION = "ap-northeast-2"
SECRET = "wiring-signing-secret-0123456789abcdef"  # pragma: allowlist secret
TABLE = "facewatch-test-wiring"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Stack:
    def __init__(self, url: str, suffix: str, signing_secret: str | None) -> None:
        kwargs: dict[str, Any] = {"region_name": REGION, "endpoint_url": url}
        self.dynamodb = boto3.client("dynamodb", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        secrets = boto3.client("secretsmanager", **kwargs)
        self.table = f"{TABLE}-{suffix}"
        create_table(self.dynamodb, self.table)
        signing: dict[str, Any] = {"Name": f"facewatch/test/{suffix}/signing"}
        if signing_secret is not None:
            signing["SecretString"] = signing_secret
        self.queue_url = self.sqs.create_queue(QueueName=f"facewatch-test-{suffix}")["QueueUrl"]
        allow = json.dumps({"teamIds": "T0FACEWATCH", "channelIds": "C0SECURITY"})
        self.env = {
            "TABLE_NAME": self.table,
            "SLACK_SIGNING_SECRET_ARN": secrets.create_secret(**signing)["ARN"],
            "SLACK_ALLOW_LIST_SECRET_ARN": secrets.create_secret(
                Name=f"facewatch/test/{suffix}/allow", SecretString=allow
            )["ARN"],
            "SLACK_CLICKS_QUEUE_URL": self.queue_url,
            "AWS_ENDPOINT_URL": url,
        }

    def messages(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def guard_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName=self.table)["Items"]
        return [i for i in items if i["PK"]["S"].startswith("SLACKSIG#")]


def _front(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_function("slack_actions", stack.env, monkeypatch)


def _answer(front: ModuleType, event: dict[str, Any]) -> int:
    status: int = front.lambda_handler(event, Context())["statusCode"]
    return status


def _click(channel: str = "C0SECURITY") -> dict[str, Any]:
    now = time.time()
    payload = payload_of(signed("acknowledge", now, secret=SECRET))
    payload["channel"]["id"] = channel
    return signed("acknowledge", now, secret=SECRET, body="payload=" + quote(json.dumps(payload)))


def test_an_allowed_click_is_on_the_queue_before_the_200(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Stack(moto_url, "allowed", SECRET)
    front = _front(stack, monkeypatch)
    event = _click()
    assert _answer(front, event) == 200
    (message,) = stack.messages()
    assert message["payload"] == parse_qs(event["body"])["payload"][0]  # the signed payload
    assert len(stack.guard_items()) == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf[-1]["SlackClickRecorded"] == [1.0]  # the metric as Powertools writes it
    assert _answer(front, event) == 401  # the same signature again: a replay
    assert stack.messages() == []


def test_a_click_from_another_channel_writes_nothing(
    moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(moto_url, "forbidden", SECRET)
    front = _front(stack, monkeypatch)
    assert _answer(front, _click(channel="C0RANDOM")) == 403
    assert stack.guard_items() == [] and stack.messages() == []


def test_a_bad_signature_writes_nothing(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack(moto_url, "unsigned", SECRET)
    front = _front(stack, monkeypatch)
    forged = signed("acknowledge", time.time(), secret="not-the-secret")  # pragma: allowlist secret
    assert _answer(front, forged) == 401
    assert stack.guard_items() == [] and stack.messages() == []


def test_a_signing_secret_without_a_value_is_503(
    moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(moto_url, "unset", None)  # the stack creates the secret without a value
    front = _front(stack, monkeypatch)
    assert _answer(front, _click()) == 503
    assert stack.guard_items() == [] and stack.messages() == []


def test_no_secret_reaches_a_log_at_debug(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = Stack(moto_url, "debug", SECRET)
    front = _front(stack, monkeypatch)
    assert _answer(front, _click()) == 200
    assert _answer(front, _click(channel="C0RANDOM")) == 403
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert SECRET not in logged and "AWS4-HMAC-SHA256" not in logged  # nor a signed request
    assert "Slack click not allowed" in logged  # the refusal itself is logged, by ids
    assert logging.getLogger("slack_sdk").getEffectiveLevel() == logging.INFO


def test_a_missing_setting_stops_the_cold_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facewatch.audit.slack_front import FrontSettingsError  # noqa: PLC0415

    monkeypatch.delenv("SLACK_CLICKS_QUEUE_URL", raising=False)
    with pytest.raises(FrontSettingsError, match="SLACK_CLICKS_QUEUE_URL"):
        load_function("slack_actions", {"TABLE_NAME": "t"}, monkeypatch)
