"""Escalation timers and the ticker (moto DynamoDB with the template's table, moto SNS with a
site-scoped phone), on an injected clock; with app mode, the thread note and the message."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.alerts.bus import BusEvent, PublishFailure
from facewatch.alerts.sms.notifier import SnsTopic
from facewatch.audit.escalation import TickerDeps, parse_escalation_minutes, scheduled_time, tick
from facewatch.audit.history import IncidentHistory
from facewatch.audit.lifecycle import Actor
from facewatch.detections.store import DynamoIncidentStore
from facewatch_tools.cli.subscribers import filter_policy
from tests.audit.conftest import REGION, TABLE, create_table, incident_item, incident_state
from tests.fanout.test_slack_app import INCIDENT, World, first_alert
from tests.fanout.test_slack_app import world as world  # noqa: PLC0414 - the app-mode fixture

T0 = 1_800_000_000.0
MINUTE = 60.0


@dataclass
class Published:
    events: list[BusEvent] = field(default_factory=list)

    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        self.events += events
        return []


@dataclass
class Setup:
    client: Any
    deps: TickerDeps
    published: Published
    phones: dict[str, str]

    def texts(self, phone: str) -> list[str]:
        sqs = boto3.client("sqs", region_name=REGION)
        found = sqs.receive_message(QueueUrl=self.phones[phone], MaxNumberOfMessages=10)
        return [m["Body"] for m in found.get("Messages", [])]

    def status(self, incident_id: str) -> str:
        record = IncidentHistory(self.client, TABLE).get(incident_id)
        assert record is not None
        return record.status


@pytest.fixture
def setup() -> Iterator[Setup]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        store = DynamoIncidentStore(client, TABLE, retention_days=30)
        for incident_id, site in (("INC-SEOUL", "seoul-hq"), ("INC-BERLIN", "berlin")):
            state = incident_state(incident_id, f"{site}-cam", T0)
            client.put_item(TableName=TABLE, Item=incident_item(store, state, site))
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="facewatch-test-escalation")["TopicArn"]
        phones = {}
        for name, sites in (("seoul", ["seoul-hq"]), ("org", [])):
            url = sqs.create_queue(QueueName=f"esc-{name}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            attributes = {"RawMessageDelivery": "true"}
            if sites:
                attributes["FilterPolicy"] = json.dumps(filter_policy(sites, None))
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn["Attributes"]["QueueArn"],
                Attributes=attributes,
            )
            phones[name] = url
        published = Published()
        deps = TickerDeps(
            history=IncidentHistory(client, TABLE),
            publisher=published,
            escalation_sms=SnsTopic(sns, topic),
            escalate_after=parse_escalation_minutes("seoul-hq=5"),
        )
        yield Setup(client, deps, published, phones)


def test_an_unanswered_alert_escalates_once_after_its_sites_minutes(setup: Setup) -> None:
    assert tick(setup.deps, T0 + 4 * MINUTE)["escalated"] == 0
    assert setup.texts("org") == []
    counts = tick(setup.deps, T0 + 5 * MINUTE)
    assert counts["escalated"] == 1  # Seoul only: Berlin has no escalation time
    assert setup.status("INC-SEOUL") == "escalated" and setup.status("INC-BERLIN") == "open"
    (event,) = setup.published.events
    assert event.detail_type == "Incident Status Changed" and event.key == "INC-SEOUL"
    (text,) = setup.texts("seoul")
    assert text.startswith("facewatch ESCALATED, no answer in 5 min") and "seoul-hq" in text
    assert len(setup.texts("org")) == 1
    assert tick(setup.deps, T0 + 30 * MINUTE)["escalated"] == 0  # once
    assert setup.texts("seoul") == [] and len(setup.published.events) == 1


def test_an_acknowledgement_stops_the_escalation(setup: Setup) -> None:
    actor = Actor(id="U1", name="jkim", channel="slack")
    setup.deps.history.change_status("INC-SEOUL", "acknowledged", actor, T0 + 2 * MINUTE)
    assert tick(setup.deps, T0 + 10 * MINUTE)["escalated"] == 0
    assert setup.status("INC-SEOUL") == "acknowledged" and setup.texts("seoul") == []


def test_a_default_for_every_site_and_off_by_default(setup: Setup) -> None:
    setup.deps.escalate_after = parse_escalation_minutes("")
    assert tick(setup.deps, T0 + 600 * MINUTE)["escalated"] == 0
    setup.deps.escalate_after = parse_escalation_minutes("seoul-hq=30, *=10")
    assert tick(setup.deps, T0 + 10 * MINUTE)["escalated"] == 1  # Berlin by "*"
    assert setup.status("INC-BERLIN") == "escalated" and setup.status("INC-SEOUL") == "open"


@pytest.mark.parametrize("bad", ["seoul-hq", "seoul-hq=x", "=5", "seoul-hq=0", "a=99999"])
def test_bad_escalation_settings_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ESCALATE_AFTER_MINUTES"):
        parse_escalation_minutes(bad)


def test_the_clock_is_the_scheduled_events_time() -> None:
    assert scheduled_time({"time": "1970-01-01T00:01:00Z"}, 5.0) == 60.0
    assert scheduled_time({}, 5.0) == 5.0


def test_with_slack_the_thread_says_so_and_the_message_shows_it(world: World) -> None:
    from facewatch.alerts.slack.threads import SlackThreads  # noqa: PLC0415

    world.deliver(first_alert())
    published = Published()
    sent: list[tuple[str, dict[str, str] | None]] = []

    class Sms:
        def publish(self, text: str, attributes: dict[str, str] | None = None) -> str:
            sent.append((text, attributes))
            return "m-1"

    threads: SlackThreads = world.threads
    deps = TickerDeps(
        history=IncidentHistory(world.client, TABLE),
        publisher=published,
        escalation_sms=Sms(),
        escalate_after={"seoul-hq": 5},
        threads=threads,
    )
    first_seen = world.now[0] - 10
    counts = tick(deps, first_seen + 5 * MINUTE + 1)
    assert counts["escalated"] == 1 and counts["slack_updated"] == 1
    assert sent[0][1] == {"site": "seoul-hq", "kind": "escalation"}
    assert "Escalated: unknown face" in world.reads()
    assert "no answer within 5 min" in world.reads()
    replies = [r.current.text() for r in world.sink.replies(world.message)]
    assert any("no answer within 5 min; escalation SMS sent" in r for r in replies)
    assert any("Visit ended" in r for r in replies)  # quiet for longer than the window too
    assert INCIDENT in str(published.events[0].detail)
