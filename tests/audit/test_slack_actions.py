"""Slack buttons through the real handler: signatures (good, bad, stale, replayed) and effects."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import boto3
import pytest
from slack_sdk.webhook import WebhookClient

from facewatch.audit.lifecycle import STATUS_CHANGED_DETAIL_TYPE
from facewatch.audit.slack_actions import SnsEscalation, WebhookResponder
from facewatch.audit.slack_requests import parse_payload
from facewatch.clips.links import verify_clip_link
from tests.conftest import load_event
from tests.slack_world import LINK_KEY, World, incident_for, make_world, signed

from .conftest import REGION, T0, TABLE

pytestmark = pytest.mark.integration
NOW = T0 + 120


@pytest.fixture
def world(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield make_world(
        dynamodb, monkeypatch, table=TABLE, now=NOW, incident_item=incident_for(dynamodb, TABLE, T0)
    )


def test_good_signature_acknowledges_updates_message_and_publishes(world: World) -> None:
    response = world.call(signed("acknowledge", NOW))
    assert response["statusCode"] == 200
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "acknowledged"
    trail = list(world.history.trail("inc-demo-0001"))
    assert trail[-1].kind == "status-acknowledged" and trail[-1].actor == "U0AUDIT01"
    assert trail[-1].details["origin"] == "slack:T0FACEWATCH/C0SECURITY"
    ((url, text, blocks),) = world.responder.messages
    assert url.startswith("https://hooks.slack.com/actions/")
    assert "Acknowledged" in text and "<@U0AUDIT01>" in text
    assert [b["type"] for b in blocks] == ["section", "context"]  # buttons gone, status shown
    assert text.startswith("Unknown person at HQ lobby | status: ")
    (event,) = world.publisher.published
    assert event.detail_type == STATUS_CHANGED_DETAIL_TYPE
    detail = event.detail.model_dump(mode="json", by_alias=True)
    assert detail["previousStatus"] == "open" and detail["status"] == "acknowledged"
    assert detail["actor"]["id"] == "U0AUDIT01" and detail["schemaVersion"] == "1.1"
    assert world.escalation.sent == []
    assert response["headers"]["Referrer-Policy"] == "no-referrer"


def test_bad_signature_is_refused_and_changes_nothing(world: World) -> None:
    response = world.call(signed("acknowledge", NOW, secret="not-the-secret"))
    assert response["statusCode"] == 401
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "open"
    assert world.responder.messages == [] and world.publisher.published == []


def test_tampered_body_is_refused(world: World) -> None:
    event = signed("acknowledge", NOW)
    event["body"] = event["body"].replace("incident_acknowledge", "incident_false_alarm")
    assert world.call(event)["statusCode"] == 401


def test_stale_signature_is_refused(world: World) -> None:
    event = signed("acknowledge", NOW - 301)  # correctly signed, but more than 5 minutes old
    assert world.call(event)["statusCode"] == 401
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "open"


def test_within_the_window_is_accepted(world: World) -> None:
    assert world.call(signed("false_alarm", NOW - 299))["statusCode"] == 200


def test_replayed_request_is_refused(world: World) -> None:
    event = signed("escalate", NOW)
    assert world.call(json.loads(json.dumps(event)))["statusCode"] == 200
    world.clock[0] = NOW + 30  # replayed 30 s later, still inside the signature window
    assert world.call(event)["statusCode"] == 401
    assert len(world.escalation.sent) == 1  # the replay sent no second SMS
    assert len(world.publisher.published) == 1


def test_base64_encoded_body_is_verified_on_its_decoded_bytes(world: World) -> None:
    event = signed("acknowledge", NOW)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert world.call(event)["statusCode"] == 200


def test_unset_signing_secret_answers_503(world: World) -> None:
    def unset() -> str:
        raise RuntimeError("ResourceNotFoundException: no secret value")

    world.deps.guard._secret = unset  # the stack creates the secret without a value
    assert world.call(signed("acknowledge", NOW))["statusCode"] == 503


def test_too_many_form_fields_is_400(world: World) -> None:
    body = "&".join(f"f{n}=1" for n in range(10))
    assert world.call(signed("acknowledge", NOW, body=body))["statusCode"] == 400


def test_missing_headers_are_refused(world: World) -> None:
    event = signed("acknowledge", NOW)
    del event["headers"]["x-slack-signature"]
    assert world.call(event)["statusCode"] == 401


def test_rejection_log_does_not_contain_the_body(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.call(signed("acknowledge", NOW, secret="wrong"))  # pragma: allowlist secret
    (record,) = [r for r in caplog.records if r.getMessage() == "Slack request rejected"]
    assert record.__dict__["reason"] == "bad signature"
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "alice" not in logged and "hooks.slack.com" not in logged and "payload" not in logged


def test_escalate_sends_a_short_sms_with_a_signed_clip_link(world: World) -> None:
    assert world.call(signed("escalate", NOW))["statusCode"] == 200
    ((message, incident_id),) = world.escalation.sent
    assert incident_id == "inc-demo-0001"
    assert "ESCALATED by alice" in message and "hq" in message
    link = urlparse(message.rsplit(" ", 1)[-1])
    assert link.netloc == "abc123.execute-api.ap-northeast-2.amazonaws.com"
    assert link.path == "/clips/inc-demo-0001"
    query = parse_qs(link.query)
    verify_clip_link("inc-demo-0001", query["exp"][0], query["sig"][0], LINK_KEY, NOW)
    _, _, blocks = world.responder.messages[0]
    assert blocks[1]["type"] == "actions"  # escalated: someone must still acknowledge
    assert "Escalation SMS sent" in json.dumps(blocks)


def test_a_second_update_replaces_the_status_line_instead_of_adding_one(world: World) -> None:
    world.call(signed("escalate", NOW))
    _, text, blocks = world.responder.messages[0]
    event = load_event("slack_actions_acknowledge.json")
    payload = json.loads(parse_qs(event["body"])["payload"][0])
    payload["message"] = {"text": text, "blocks": blocks}  # what Slack now shows
    body = "payload=" + quote(json.dumps(payload))
    world.call(signed("acknowledge", NOW + 1, body=body))
    _, text, blocks = world.responder.messages[1]
    assert text.count("| status:") == 1 and "Acknowledged" in text
    statuses = [b for b in blocks if b.get("block_id") == "facewatch_status"]
    assert len(statuses) == 1 and "Acknowledged" in json.dumps(statuses)
    assert all(b["type"] != "actions" for b in blocks)


def test_open_clip_link_button_stays_and_its_click_is_just_acknowledged(world: World) -> None:
    event = load_event("slack_actions_acknowledge.json")
    payload = json.loads(parse_qs(event["body"])["payload"][0])
    link_button = {
        "type": "button",
        "action_id": "incident_open_clip",
        "url": "https://abc123.execute-api.ap-northeast-2.amazonaws.com/clips/inc-demo-0001",
        "value": "inc-demo-0001",
        "text": {"type": "plain_text", "text": "Open clip"},
    }
    payload["message"]["blocks"][1]["elements"].insert(0, link_button)
    world.call(signed("acknowledge", NOW, body="payload=" + quote(json.dumps(payload))))
    _, _, blocks = world.responder.messages[0]
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["incident_open_clip"]

    # Slack also posts a click on a link button: answered 200, nothing changes.
    payload["actions"] = [{"action_id": "incident_open_clip", "value": "inc-demo-0001"}]
    body = "payload=" + quote(json.dumps(payload))
    assert world.call(signed("acknowledge", NOW + 1, body=body))["statusCode"] == 200
    assert (
        len(world.responder.messages) == 1 and len(list(world.history.trail("inc-demo-0001"))) == 1
    )


def test_failed_escalation_is_said_in_slack(world: World) -> None:
    world.escalation.fail = True
    assert world.call(signed("escalate", NOW))["statusCode"] == 200
    assert "could not be sent" in json.dumps(world.responder.messages[0][2])


def test_second_operator_sees_who_was_first(world: World) -> None:
    world.call(signed("false_alarm", NOW))
    world.clock[0] = NOW + 5
    world.call(signed("acknowledge", NOW + 5))
    incident = world.history.get("inc-demo-0001")
    assert incident is not None and incident.status == "false_alarm"
    text = world.responder.messages[-1][1]
    assert "False alarm" in text and "alice" in text
    assert len(world.publisher.published) == 1  # no event for a change that did not happen


def test_unknown_incident_says_so(world: World) -> None:
    event = load_event("slack_actions_acknowledge.json")
    body = event["body"].replace("inc-demo-0001", "inc-gone")
    assert world.call(signed("acknowledge", NOW, body=body))["statusCode"] == 200
    assert "no longer on record" in json.dumps(world.responder.messages[0][2])


def test_signed_but_not_a_payload_is_400(world: World) -> None:
    assert world.call(signed("acknowledge", NOW, body="payload=%7B%7D"))["statusCode"] == 400
    assert world.call(signed("acknowledge", NOW + 1, body="nothing"))["statusCode"] == 400


def test_payload_parsing_keeps_only_slack_response_urls() -> None:
    body = load_event("slack_actions_acknowledge.json")["body"]
    assert parse_payload(body).actions[0].value == "inc-demo-0001"
    hostile = body.replace(quote("https://hooks.slack.com"), quote("https://evil.example"))
    with pytest.raises(ValueError, match="block_actions"):
        parse_payload(hostile)


# ---- adapters on their real transports ------------------------------------------------------
def test_sns_escalation_publishes_to_the_topic(aws: None) -> None:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="facewatch-test-escalation")["TopicArn"]
    queue = sqs.create_queue(QueueName="escalation-copy")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    SnsEscalation(sns, topic).escalate("facewatch ESCALATED", "inc-1")
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert message["Body"] == "facewatch ESCALATED"


class _SlackHook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _SlackHook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


def test_webhook_responder_replaces_the_original_message() -> None:
    server = HTTPServer(("127.0.0.1", 0), _SlackHook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/actions/T/1/x"
        WebhookResponder(lambda u: WebhookClient(u, timeout=2)).replace(
            url, "Acknowledged", [{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}]
        )
    finally:
        server.shutdown()
    (sent,) = _SlackHook.received
    assert sent["replace_original"] is True and sent["text"] == "Acknowledged"
