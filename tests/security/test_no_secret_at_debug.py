"""Finding 12: no secret reaches a log at any level, DEBUG included (slack_sdk, botocore).

slack_sdk logs the full webhook URL and body at DEBUG and botocore logs every response body
(GetSecretValue's SecretString) at DEBUG; the whole process runs at DEBUG here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws
from slack_sdk.webhook import WebhookClient

import facewatch.observability  # noqa: F401 - the import pins the libraries' log levels
from facewatch.alerts.slack.messages import SlackMessage
from facewatch.alerts.slack.webhooks import SlackPoster

pytestmark = pytest.mark.integration
WEBHOOK_TOKEN = "T0FACE/B0HOOK/sEcReTwEbHoOkToKeN"  # pragma: allowlist secret
SECRET_VALUE = "xoxb-not-for-logs-0123456789"  # pragma: allowlist secret
BODY_TEXT = "Unknown face at HQ lobby"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/{WEBHOOK_TOKEN}"
    server.shutdown()


def _everything(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.name} {r.getMessage()} {r.__dict__.get('args')}" for r in caplog.records)


def test_slack_webhook_url_and_body_are_not_logged_at_debug(
    hook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and every logger without its own level
    assert WebhookClient(hook_url, timeout=2).send(text=BODY_TEXT).status_code == 200
    poster = SlackPoster(timeout=2, min_interval=0, rate_limit_retries=0, error_retries=0)
    poster.post(hook_url, SlackMessage(text=BODY_TEXT, blocks=[]), "default")
    logged = _everything(caplog)
    assert "sEcReTwEbHoOkToKeN" not in logged and BODY_TEXT not in logged


def test_secret_values_are_not_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="ap-northeast-2")
        arn = client.create_secret(Name="facewatch/test/bot", SecretString=SECRET_VALUE)["ARN"]
        assert client.get_secret_value(SecretId=arn)["SecretString"] == SECRET_VALUE
    assert SECRET_VALUE not in _everything(caplog)
