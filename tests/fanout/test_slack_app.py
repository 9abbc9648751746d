"""Slack app mode end to end: chat.postMessage, the message kept on the incident, chat.update as
the incident grows and changes, thread notes, throttling on an injected clock. moto DynamoDB
(the template's table), the real face_events item and status-change code, the local Slack sink."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.alerts.fanout import BusEnvelope, Outcome
from facewatch.alerts.slack.app import SlackAppConfig, SlackWebApi
from facewatch.alerts.slack.notifier import NoSnapshots, SlackAdapters, SlackNotifier
from facewatch.alerts.slack.threads import DynamoMessageStore, SlackThreads, ThreadSettings
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.view import ClipLinks
from facewatch.audit.history import IncidentHistory
from facewatch.audit.lifecycle import Actor, StatusChangedDetail
from facewatch.detections.store import DynamoIncidentStore, incident_key, to_item
from facewatch.timestamps import iso, to_datetime
from facewatch_tools.local.slack_sink import SinkMessage, SlackSink
from tests.audit.conftest import REGION, TABLE, create_table, incident_item, incident_state
from tests.fanout.builders import SEOUL, InMemoryOnce, alert_detail, envelope

T0 = datetime(2026, 11, 18, 5, 3, 12, 400_000, tzinfo=UTC).timestamp()  # builders: firstSeen
INCIDENT = "INC-7Q2KX4MZ3B1A"
WINDOW = 60.0


@dataclass
class World:
    sink: SlackSink
    client: Any
    notifier: SlackNotifier
    threads: SlackThreads
    now: list[float] = field(default_factory=lambda: [T0 + 10])

    def deliver(self, detail: dict[str, Any], detail_type: str = "Unknown Face Detected") -> Any:
        return self.notifier.deliver(BusEnvelope.model_validate(envelope(detail, detail_type)))

    def grow(self, detections: int, last_seen: float) -> None:
        """What face_events writes when the incident is extended (store._extend_update)."""
        self.client.update_item(
            TableName=TABLE,
            Key=incident_key(INCIDENT),
            UpdateExpression="SET lastSeen = :l, detections = :d",
            ExpressionAttributeValues=to_item({":l": iso(last_seen), ":d": detections}),
        )

    def at(self, seconds: float) -> str:
        self.now[0] = T0 + seconds
        return self.threads.reconcile(INCIDENT, self.now[0])

    @property
    def message(self) -> SinkMessage:
        (message,) = self.sink.top_level()
        return message

    def reads(self) -> str:
        return self.message.current.text()


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        store = DynamoIncidentStore(client, TABLE, retention_days=30)
        incident = incident_state(INCIDENT, "seoul-hq-lobby-01", T0, T0 + 8)
        client.put_item(TableName=TABLE, Item=incident_item(store, incident, "seoul-hq"))
        sink = SlackSink(clock=lambda: T0).start()
        config = SlackAppConfig(sink.token, {"default": "C0DEFAULT", "seoul-hq": "C0SEOUL"})
        now = [T0 + 10]
        api = SlackWebApi(base_url=sink.api_url, sleep=lambda _s: None, clock=lambda: now[0])
        threads = SlackThreads(
            DynamoMessageStore(client, TABLE),
            api,
            lambda: config.bot_token,
            ThreadSettings(min_update_interval=10, window_seconds=WINDOW),
            ClipLinks().link_for,
        )
        notifier = SlackNotifier(
            SlackAdapters(
                routes=WebhookRoutes(lambda: {"default": "http://127.0.0.1:9/unused"}),
                sender=SlackPoster(),
                once=InMemoryOnce(),
                clip_links=ClipLinks(),
                snapshots=NoSnapshots(),
                app=lambda: config,
                threads=threads,
                clock=lambda: now[0],
            )
        )
        try:
            yield World(sink, client, notifier, threads, now)
        finally:
            sink.stop()


def first_alert() -> dict[str, Any]:
    return {
        **alert_detail(INCIDENT, detections=4),
        "lastSeen": iso(T0 + 8),
        "location": SEOUL,
    }


def test_the_alert_is_posted_once_and_kept_on_the_incident(world: World) -> None:
    assert world.deliver(first_alert()) is Outcome.SENT
    assert world.deliver(first_alert()) is Outcome.DUPLICATE
    message = world.message
    assert message.channel == "C0SEOUL"
    item = world.client.get_item(TableName=TABLE, Key=incident_key(INCIDENT))["Item"]
    assert (item["slackChannel"]["S"], item["slackTs"]["S"]) == (message.channel, message.ts)
    assert "4 frames with an unknown face" in world.reads()


def test_the_message_grows_in_place_at_most_once_per_ten_seconds(world: World) -> None:
    world.deliver(first_alert())
    world.grow(9, T0 + 20)
    assert world.at(21) == "updated"
    assert "9 frames with an unknown face over 20 s" in world.reads()
    world.grow(12, T0 + 25)
    assert world.at(26) == "throttled"  # 5 s after the last update
    assert "9 frames" in world.reads()
    assert world.at(31) == "updated"  # the change was kept, not lost
    assert "12 frames" in world.reads()
    assert world.at(45) == "unchanged"
    assert len(world.message.versions) == 3  # posted, then two updates
    assert world.sink.replies(world.message) == []


def test_status_changes_update_the_message_and_note_the_thread_once(world: World) -> None:
    world.deliver(first_alert())
    actor = Actor(id="U024BE7LH", name="jkim", channel="slack", origin="slack:T1/C0SEOUL")
    change = IncidentHistory(world.client, TABLE).change_status(
        INCIDENT, "acknowledged", actor, T0 + 30
    )
    assert change.applied
    detail = StatusChangedDetail(
        incident_id=INCIDENT,
        camera_id="seoul-hq-lobby-01",
        site_id="seoul-hq",
        previous_status="open",
        status="acknowledged",
        changed_at=to_datetime(T0 + 30),
        actor=actor,
    ).model_dump(mode="json", by_alias=True)
    world.now[0] = T0 + 31
    assert world.deliver(detail, "Incident Status Changed") is Outcome.SENT
    world.deliver(detail, "Incident Status Changed")  # EventBridge delivers at least once
    reads = world.reads()
    assert "Acknowledged: unknown face at Seoul HQ" in reads and "by jkim" in reads
    assert "incident_acknowledge" not in str(world.message.versions[-1])
    (reply,) = world.sink.replies(world.message)
    assert reply.current.text().startswith("✅ Acknowledged by <@U024BE7LH>")


def test_the_end_of_the_visit_shows_and_is_noted_once(world: World) -> None:
    world.deliver(first_alert())
    world.grow(31, T0 + 180)
    assert world.at(200) == "updated"
    assert "Visit ended" not in world.reads()
    assert world.at(180 + WINDOW + 1) == "updated"
    assert "Visit ended after 3 min" in world.reads()
    assert world.at(400) == "unchanged"
    (reply,) = world.sink.replies(world.message)
    assert "Visit ended after 3 min (31 detections)" in reply.current.text()


def test_a_merge_marks_the_absorbed_message(world: World) -> None:
    world.deliver(first_alert())
    world.now[0] = T0 + 40
    merged = {"incidentId": INCIDENT, "mergedInto": "INC-2B7MK9Q4XW1C", "schemaVersion": "1.0"}
    assert world.deliver(merged, "Incident Merged") is Outcome.SENT
    assert "Merged* into `INC-2B7MK9Q4XW1C`" in world.reads()
    (reply,) = world.sink.replies(world.message)
    assert "Merged into `INC-2B7MK9Q4XW1C`" in reply.current.text()


def test_webhook_mode_ignores_lifecycle_events(world: World) -> None:
    adapters = world.notifier._adapters
    adapters.app = lambda: None
    merged = {"incidentId": INCIDENT, "mergedInto": "INC-2B7MK9Q4XW1C"}
    assert world.deliver(merged, "Incident Merged") is Outcome.NOT_ROUTED


def test_slack_errors_are_delivery_errors_and_the_token_is_checked(world: World) -> None:
    from facewatch.alerts.slack.messages import SlackMessage  # noqa: PLC0415
    from facewatch.alerts.slack.webhooks import SlackDeliveryError  # noqa: PLC0415

    api = SlackWebApi(base_url=world.sink.api_url, sleep=lambda _s: None)
    message = SlackMessage(text="x", blocks=[])
    with pytest.raises(SlackDeliveryError, match="invalid_auth"):
        api.post("xoxb-wrong", "C0SEOUL", message)
    with pytest.raises(SlackDeliveryError, match="channel_not_found"):
        api.post(world.sink.token, "#general", message)
    world.sink.fail_next(429, retry_after=1)
    posted = api.post(world.sink.token, "C0SEOUL", message)  # waits Retry-After, then posts
    assert api.rate_limit.waits == [1.0] and posted.channel == "C0SEOUL"
