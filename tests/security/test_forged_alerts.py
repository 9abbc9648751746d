"""Finding 5: a forged "Unknown Face Detected" sends nothing; clip links never outlive their TTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.fanout import BusEnvelope, DynamoAlertRecords, Outcome, run_notifier_batch
from facewatch.alerts.view import ClipLinks
from facewatch.clips.links import DAY, verify_clip_token
from tests.audit.conftest import T0, TABLE
from tests.fanout.builders import FakeContext, alert_detail, envelope, health_detail, sqs_event
from tests.slack_world import incident_for

pytestmark = pytest.mark.integration


@dataclass
class RecordingChannel:
    name: str = "slack"
    delivered: list[str] = field(default_factory=list)

    def deliver(self, event: BusEnvelope) -> Outcome:
        self.delivered.append(event.detail.get("incidentId", event.detail_type))
        return Outcome.SENT


class _Metrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values[name] = value


def _run(dynamodb: Any, bodies: list[dict[str, Any]]) -> tuple[RecordingChannel, _Metrics]:
    channel, metrics = RecordingChannel(), _Metrics()
    run_notifier_batch(
        sqs_event(bodies),
        FakeContext(),
        channel,
        BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        reserve_seconds=1,
        metrics=metrics,
        alerts=DynamoAlertRecords(dynamodb, TABLE),
    )
    return channel, metrics


def test_a_forged_alert_for_an_unknown_incident_is_not_sent(dynamodb: Any) -> None:
    forged = envelope(alert_detail("INC-FORGED0000001"))
    channel, metrics = _run(dynamodb, [forged])
    assert channel.delivered == []
    assert metrics.values["SlackNotOnRecord"] == 1


def test_an_incident_on_record_that_alerted_is_sent(dynamodb: Any) -> None:
    item = incident_for(dynamodb, TABLE, T0)  # written "pending" before face_events publishes
    dynamodb.put_item(TableName=TABLE, Item=item)
    incident_id = item["incidentId"]["S"]
    channel, _ = _run(dynamodb, [envelope(alert_detail(incident_id))])
    assert channel.delivered == [incident_id]


def test_an_incident_that_never_alerted_is_not_sent(dynamodb: Any) -> None:
    item = incident_for(dynamodb, TABLE, T0)
    del item["alertState"]
    dynamodb.put_item(TableName=TABLE, Item=item)
    channel, _ = _run(dynamodb, [envelope(alert_detail(item["incidentId"]["S"]))])
    assert channel.delivered == []


def test_other_detail_types_are_not_held_back(dynamodb: Any) -> None:
    channel, _ = _run(dynamodb, [envelope(health_detail(), "Camera Health Changed")])
    assert channel.delivered == ["Camera Health Changed"]


def test_clip_link_expiry_counts_from_now_when_first_seen_is_in_the_future() -> None:
    now = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
    detail = AlertDetail.model_validate(alert_detail())
    forged = detail.model_copy(update={"first_seen": datetime(2099, 1, 1, tzinfo=UTC)})
    links = ClipLinks("https://fw.example", lambda: b"k", ttl_days=30, now=now.timestamp)
    for alert, start in ((forged, now), (detail, detail.first_seen)):
        url = links.link_for(alert)
        assert url is not None
        token = parse_qs(urlparse(url).query)["t"][0]  # the short SMS-sized token
        expires = verify_clip_token(alert.incident_id, token, b"k", now.timestamp())
        # the token keeps the expiry day: 30 days from min(firstSeen, now), rounded up a day
        expected = int((start + timedelta(days=30)).timestamp())
        assert expected <= expires < expected + DAY
