"""Severity routes, SMS by site (SNS filter policies on moto) and SMS length at real URL lengths."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.fanout import BusEnvelope, Outcome
from facewatch.alerts.routes import route_for
from facewatch.alerts.sms.messages import sms_size, sms_text
from facewatch.alerts.sms.notifier import SmsAdapters, SmsNotifier, SnsTopic
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.clips.links import verify_clip_token
from facewatch_tools.cli.subscribers import filter_policy
from tests.fanout.builders import SEOUL, InMemoryOnce, alert_detail, envelope

REGION = "ap-northeast-2"
BERLIN = {**SEOUL, "siteId": "berlin", "siteName": "Berlin office", "timeZone": "Europe/Berlin"}


# ---- the routing matrix -------------------------------------------------------------------
def expected_route(severity: str, possible: bool) -> tuple[bool, bool, bool]:
    """(sms, mention, hint), written from the README's table."""
    if possible:
        return (False, False, True)
    return {"high": (True, True, False), "normal": (False, True, False)}.get(
        severity, (False, False, False)
    )


@pytest.mark.parametrize(
    ("severity", "possible"), list(itertools.product(["low", "normal", "high"], [False, True]))
)
def test_routing_matrix(severity: Any, possible: bool) -> None:
    route = route_for(severity, possible)
    assert (route.sms, route.mention, route.hint) == expected_route(severity, possible)
    assert route.slack  # every alert reaches Slack


def test_an_event_without_severity_routes_as_normal() -> None:
    location = {k: v for k, v in SEOUL.items() if k != "severity"}
    view = alert_view(AlertDetail.model_validate(alert_detail(location=location)), None)
    assert view.severity == "normal" and view.route is not None and not view.route.sms


def test_a_possible_employee_band_is_a_hint_never_paged() -> None:
    hinted = {"band": "possible", "page": False, "hint": "possible EMP-10442 (84%)"}
    view = alert_view(AlertDetail.model_validate({**alert_detail(), **hinted}), None)
    assert view.route is not None and view.route.hint and not view.route.sms
    assert not view.route.mention
    # POSSIBLE_MATCH_ACTION=alert: a possible incident paged like any unknown face
    paged = AlertDetail.model_validate({**alert_detail(), "band": "possible", "page": True})
    route = alert_view(paged, None).route
    assert route is not None and route.sms and not route.hint


# ---- SMS by site -----------------------------------------------------------------------------
@pytest.fixture
def topic() -> Iterator[tuple[Any, str, dict[str, str]]]:
    """An alerts topic with four 'phones': SQS queues subscribed with the filter policies that
    `facewatch subscribers add` sets (SNS applies a policy the same way for every protocol)."""
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        arn = sns.create_topic(Name="facewatch-test-alerts")["TopicArn"]
        phones = {
            "seoul": filter_policy(["seoul-hq"], None),
            "berlin": filter_policy(["berlin"], None),
            "berlin-high": filter_policy(["berlin"], "high"),
            "org": filter_policy([], None),
        }
        queues: dict[str, str] = {}
        for name, policy in phones.items():
            url = sqs.create_queue(QueueName=f"phone-{name}")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            attributes = {"RawMessageDelivery": "true"}
            if policy:
                attributes["FilterPolicy"] = json.dumps(policy)
            sns.subscribe(
                TopicArn=arn,
                Protocol="sqs",
                Endpoint=queue_arn["Attributes"]["QueueArn"],
                Attributes=attributes,
            )
            queues[name] = url
        yield sns, arn, queues


def received(queues: dict[str, str]) -> dict[str, list[str]]:
    sqs = boto3.client("sqs", region_name=REGION)
    got: dict[str, list[str]] = {}
    for name, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        got[name] = [m["Body"] for m in messages]
    return got


def notifier(sns: Any, arn: str) -> SmsNotifier:
    return SmsNotifier(SmsAdapters(SnsTopic(sns, arn), InMemoryOnce(), ClipLinks()))


def deliver(sms: SmsNotifier, detail: dict[str, Any]) -> Outcome:
    return sms.deliver(BusEnvelope.model_validate(envelope(detail)))


def test_an_alert_texts_only_its_sites_phones_and_the_org_wide_ones(
    topic: tuple[Any, str, dict[str, str]],
) -> None:
    sns, arn, queues = topic
    sms = notifier(sns, arn)
    assert deliver(sms, alert_detail("INC-SEOUL0000001")) is Outcome.SENT
    got = received(queues)
    assert {name for name, bodies in got.items() if bodies} == {"seoul", "org"}
    assert deliver(sms, alert_detail("INC-BERLIN000001", location=BERLIN)) is Outcome.SENT
    got = received(queues)
    assert {name for name, bodies in got.items() if bodies} == {"berlin", "berlin-high", "org"}
    assert "Berlin office" in got["berlin"][0]


@pytest.mark.parametrize("severity", ["normal", "low"])
def test_normal_and_low_alerts_send_no_sms(
    topic: tuple[Any, str, dict[str, str]], severity: str
) -> None:
    sns, arn, queues = topic
    detail = alert_detail(location={**SEOUL, "severity": severity})
    assert deliver(notifier(sns, arn), detail) is Outcome.NOT_ROUTED
    assert not any(received(queues).values())


# ---- the link fits: real execute-api URL lengths ------------------------------------------------
KEY = b"k" * 64  # the stack's generated key: 64 characters


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-1", "ap-northeast-2", "ap-southeast-2", "us-gov-west-1"]
)
def test_default_alert_with_the_default_execute_api_url_fits_one_gsm7_part(region: str) -> None:
    base = f"https://a1b2c3d4e5.execute-api.{region}.amazonaws.com"  # API ids are 10 characters
    detail = AlertDetail.model_validate(alert_detail())
    link = ClipLinks(base, lambda: KEY, ttl_days=30).link_for(detail)
    text = sms_text(alert_view(detail, link))
    assert link is not None and link in text
    size = sms_size(text)
    assert (size.encoding, size.parts) == ("GSM-7", 1), text
    token = link.split("?t=")[1]
    assert verify_clip_token(detail.incident_id, token, KEY, now=detail.first_seen.timestamp())


def test_a_tampered_or_expired_token_is_refused() -> None:
    from facewatch.clips.links import ClipLinkError, clip_token  # noqa: PLC0415

    token = clip_token("INC-7Q2KX4MZ3B1A", 1_800_000_000, KEY)
    assert len(token) <= 16
    with pytest.raises(ClipLinkError, match="bad signature"):
        verify_clip_token("INC-OTHER0000001", token, KEY, now=0)
    with pytest.raises(ClipLinkError, match="bad signature"):
        verify_clip_token("INC-7Q2KX4MZ3B1A", token[:-1] + "z", KEY, now=0)
    with pytest.raises(ClipLinkError, match="expired"):
        verify_clip_token("INC-7Q2KX4MZ3B1A", token, KEY, now=1_800_000_000 + 86400)
    for bad in ("", "short", "é" * 14, token[:11] + "!!"):
        with pytest.raises(ClipLinkError):
            verify_clip_token("INC-7Q2KX4MZ3B1A", bad, KEY, now=0)


def test_a_token_has_one_spelling() -> None:
    from facewatch.clips.links import ClipLinkError, clip_token  # noqa: PLC0415

    token = clip_token("INC-7Q2KX4MZ3B1A", 1_800_000_000, KEY)
    signature, day = token[:11], token[11:]
    for respelled in (signature + "0" + day, signature + day.upper()):
        with pytest.raises(ClipLinkError, match="malformed"):
            verify_clip_token("INC-7Q2KX4MZ3B1A", respelled, KEY, now=0)
