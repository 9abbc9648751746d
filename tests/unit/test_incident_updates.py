"""``Incident Updated`` at the source: best effort, never an alert twice, never a stuck shard.

In-memory fakes of facewatch's own store and publisher interfaces (tests/fakes.py); the same
paths on moto are in tests/integration/test_visits.py and tests/fanout/test_live_updates.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from facewatch.alerts.bus import BusEvent, PublishFailure
from facewatch.detections.pipeline import Adapters, run_batch, sweep_pending_alerts
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore

pytestmark = pytest.mark.usefixtures("no_network")

SETTINGS = FaceEventsSettings.model_validate(
    {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q"}
)
UPDATED = "Incident Updated"


@dataclass
class LosingUpdates(FakePublisher):
    """EventBridge answering every Incident Updated entry with an error (as PutEvents reports a
    failed entry), the other entries accepted."""

    lose: bool = True

    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        if not self.lose:
            return super().publish(events)
        kept = [e for e in events if e.detail_type != UPDATED]
        super().publish(kept)
        return [PublishFailure(e, "InternalFailure") for e in events if e.detail_type == UPDATED]


class World:
    def __init__(self, publisher: FakePublisher | None = None) -> None:
        self.store = FakeStore()
        self.publisher = publisher or FakePublisher()
        self.metrics = FakeMetrics()
        self.now = 1795000100.0
        self.sequence = 1000

    def adapters(self) -> Adapters:
        return Adapters(
            store=self.store,
            publisher=self.publisher,
            clips=FakeClips(),
            rejects=FakeRejects(),
            clock=lambda: self.now,
            metrics=self.metrics,
        )

    def run(self, times: list[float], camera: str = "cam-1") -> dict[str, Any]:
        records = [frame_record(camera, t, [FaceSpec()]) for t in times]
        event = kinesis_event(records, first_sequence=self.sequence)
        self.sequence += len(records)
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        return dict(run_batch(event, None, SETTINGS, self.adapters(), processor))

    def kinds(self) -> list[str]:
        return [e.detail_type for e in self.publisher.published]


def test_a_lost_update_fails_no_record_and_repeats_no_alert() -> None:
    publisher = LosingUpdates()
    world = World(publisher)
    world.run([100.0, 101.0])
    world.now += 1
    assert world.run([102.0]) == {"batchItemFailures": []}  # the shard moves on
    assert world.kinds() == ["Unknown Face Detected"]
    assert world.metrics.values["IncidentUpdatesLost"] == 1
    assert world.metrics.values["IncidentUpdatesPublished"] == 0
    [incident] = world.store.incidents.values()
    assert world.store.alert_state[incident.incident_id] == "sent"
    # the lost one counts for the interval (the ticker reconciles); the next one goes out
    publisher.lose = False
    world.now += 5
    world.run([103.0])
    assert world.kinds() == ["Unknown Face Detected"]
    world.now += 5
    world.run([104.0])
    assert world.kinds() == ["Unknown Face Detected", UPDATED]


def test_an_update_lost_beside_an_alert_leaves_the_alert_settled() -> None:
    world = World(LosingUpdates())
    world.run([100.0, 101.0])
    world.now += 1
    # the first visit grows while a second visitor alerts, in one PutEvents call
    assert world.run([102.0, 300.0, 301.0]) == {"batchItemFailures": []}
    assert world.kinds() == ["Unknown Face Detected", "Unknown Face Detected"]
    assert set(world.store.alert_state.values()) == {"sent"}


def test_the_stamp_is_on_the_committed_state_and_item() -> None:
    world = World()
    world.run([100.0, 101.0])
    world.now += 1
    world.run([102.0])
    [state] = world.store.states.values()
    [incident] = world.store.incidents.values()
    assert state.incidents[0].update_published_at == world.now
    assert incident.update_published_at == world.now
    assert world.store.writes == 3  # two commits and the sent mark: the throttle adds none


def test_a_canary_incidents_update_is_marked_test() -> None:
    world = World()
    world.run([100.0, 101.0], camera="facewatch-canary-abc")
    world.now += 1
    world.run([102.0], camera="facewatch-canary-abc")
    update = world.publisher.published[-1]
    assert update.detail_type == UPDATED
    assert update.detail.model_dump(by_alias=True)["test"] is True


def test_the_sweeper_publishes_no_updates() -> None:
    world = World()
    world.publisher.fail_next = 1
    world.run([100.0, 101.0])  # the alert stays pending
    world.now += 200
    assert sweep_pending_alerts(SETTINGS, world.adapters()) == 1
    assert world.kinds() == ["Unknown Face Detected"]
