"""The face_events pipeline with in-memory fakes of its adapters (no AWS, no network)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from tests.conftest import load_event
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore

pytestmark = pytest.mark.usefixtures("no_network")

SETTINGS = FaceEventsSettings.model_validate(
    {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q", "ALERT_HLS_URL": "true"}
)
STRANGER = FaceSpec()
EMPLOYEE = FaceSpec(employee_id="EMP-10442", similarity=97.0, left=0.1)


class World:
    def __init__(self, settings: FaceEventsSettings = SETTINGS) -> None:
        self.store = FakeStore()
        self.publisher = FakePublisher()
        self.clips = FakeClips()
        self.rejects = FakeRejects()
        self.metrics = FakeMetrics()
        self.settings = settings
        self.now = 1795000100.0

    def adapters(self) -> Adapters:
        return Adapters(
            store=self.store,
            publisher=self.publisher,
            clips=self.clips,
            rejects=self.rejects,
            clock=lambda: self.now,
            metrics=self.metrics,
        )

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        return dict(run_batch(event, None, self.settings, self.adapters(), processor))


def frames(camera: str, times: list[float], faces: list[FaceSpec]) -> list[dict[str, Any]]:
    return [frame_record(camera, t, faces) for t in times]


def test_employee_and_unknown_in_a_frame_alert() -> None:
    world = World()
    response = world.run(kinesis_event(frames("cam-1", [100.0, 101.0], [EMPLOYEE, STRANGER])))
    assert response == {"batchItemFailures": []}
    assert len(world.publisher.published) == 1
    detail = world.publisher.published[0].detail.model_dump(by_alias=True, mode="json")
    assert detail["cameraId"] == "cam-1"
    assert detail["detections"] == 2
    assert detail["clip"]["url"].startswith("https://kvs.example/LIVE_REPLAY/95")
    assert detail["schemaVersion"] == "1.2"


def test_only_employees_publish_nothing_and_touch_no_store() -> None:
    world = World()
    world.run(load_event("kds_employees_only.json"))
    assert world.publisher.calls == 0
    assert world.store.writes == 0
    assert world.metrics.values["FacesKnown"] == 3


def test_frames_without_faces_make_no_call() -> None:
    world = World()
    world.run(load_event("kds_no_faces.json"))
    assert world.publisher.calls == 0
    assert world.store.writes == 0
    assert world.metrics.values["RecordsProcessed"] == 3


def test_retried_batch_publishes_no_second_alert() -> None:
    world = World()
    event = load_event("kds_unknown_face.json")
    world.run(event)
    world.run(event)
    assert world.publisher.incident_ids() == [world.publisher.published[0].key]
    assert world.metrics.values["AlertsPublished"] == 1


def test_min_detections_not_reached_means_no_alert() -> None:
    world = World()
    world.run(kinesis_event(frames("cam-1", [100.0], [STRANGER])))
    assert world.publisher.published == []
    assert world.metrics.values["IncidentsOpened"] == 1


def test_low_confidence_face_is_ignored() -> None:
    world = World()
    unsure = FaceSpec(confidence=80.0)
    world.run(kinesis_event(frames("cam-1", [100.0, 101.0, 102.0], [unsure])))
    assert world.publisher.published == []
    assert world.metrics.values["FacesIgnored"] == 3


def test_window_expiry_opens_a_second_incident() -> None:
    world = World()
    world.run(kinesis_event(frames("cam-1", [100.0, 101.0, 200.0, 201.0], [STRANGER])))
    assert len(set(world.publisher.incident_ids())) == 2


def test_out_of_order_records_across_batches_make_one_incident() -> None:
    world = World()
    world.run(kinesis_event(frames("cam-1", [130.0], [STRANGER]), shard_id="shardId-000000000001"))
    world.run(kinesis_event(frames("cam-1", [100.0], [STRANGER]), shard_id="shardId-000000000000"))
    [event] = world.publisher.published
    detail = event.detail.model_dump(by_alias=True, mode="json")
    assert detail["firstSeen"].endswith("01:40.000000Z") or detail["detections"] == 2
    assert detail["detections"] == 2


def test_two_concurrent_invocations_on_one_camera_open_one_incident() -> None:
    world = World()
    shard_a = kinesis_event(frames("cam-1", [100.0, 101.0], [STRANGER]), shard_id="shardId-A")
    shard_b = kinesis_event(frames("cam-1", [102.0, 103.0], [STRANGER]), shard_id="shardId-B")
    # Invocation B commits between A's read of the state and A's write.
    world.store.before_commit = lambda: world.run(shard_b)
    world.run(shard_a)
    # B alerted; A's frames then grew the alerted incident: one alert, one live update
    kinds = [e.detail_type for e in world.publisher.published]
    assert kinds == ["Unknown Face Detected", "Incident Updated"]
    [state] = world.store.states.values()
    assert len(state.incidents) == 1
    assert state.incidents[0].detections == 4


def test_malformed_records_are_rejected_without_failing_neighbours() -> None:
    world = World()
    response = world.run(load_event("kds_malformed.json"))
    assert response == {"batchItemFailures": []}
    assert len(world.rejects.kept) == 4
    reasons = [r.reason for r in world.rejects.kept]
    assert "data is not valid base64" in reasons
    assert any(r.startswith("invalid record: ") for r in reasons)
    assert all("eyeLeft" not in r and "0.4" not in r for r in reasons)
    values = world.metrics.values
    assert values["RecordsIn"] == values["RecordsProcessed"] + values["RecordsRejected"] == 6
    assert len(world.publisher.published) == 1  # the two good frames still alert


def test_rejects_that_cannot_be_stored_are_redelivered() -> None:
    world = World()
    world.rejects.fail = True
    response = world.run(load_event("kds_malformed.json"))
    assert len(response["batchItemFailures"]) == 4


def test_store_failure_redelivers_only_that_cameras_records() -> None:
    world = World()
    world.store.fail_commits = 1
    event = kinesis_event(
        frames("cam-1", [100.0, 101.0], [STRANGER]) + frames("cam-2", [100.0, 101.0], [STRANGER])
    )
    response = world.run(event)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {r["kinesis"]["sequenceNumber"] for r in event["Records"][:2]}
    assert [e.detail.model_dump()["camera_id"] for e in world.publisher.published] == ["cam-2"]
    world.run(event)  # Lambda's retry: cam-1 now alerts, cam-2 does not again
    assert sorted(e.detail.model_dump()["camera_id"] for e in world.publisher.published) == [
        "cam-1",
        "cam-2",
    ]


def test_publish_failure_is_retried_by_redelivery_and_alerts_once() -> None:
    world = World()
    world.publisher.fail_next = 1
    event = load_event("kds_unknown_face.json")
    response = world.run(event)
    assert len(response["batchItemFailures"]) == 3
    assert world.publisher.published == []
    world.run(event)
    world.run(event)
    assert len(world.publisher.published) == 1


def test_clip_failure_still_alerts_and_is_counted() -> None:
    world = World()
    world.clips.fail = True
    world.run(load_event("kds_unknown_face.json"))
    [event] = world.publisher.published
    detail = event.detail.model_dump(by_alias=True, mode="json")
    assert detail["clip"] is None
    assert detail["clipUnavailableReason"] == "RuntimeError"
    assert world.metrics.values["ClipEnrichmentFailures"] == 1


def test_a_batch_of_many_cameras_writes_once_per_camera() -> None:
    world = World()
    records = []
    for camera in range(5):
        records += frames(f"cam-{camera}", [100.0 + i for i in range(20)], [STRANGER])
    world.run(kinesis_event(records))
    assert len(world.publisher.published) == 5
    assert world.store.writes == 5 + 5  # one commit per camera + one sent-mark per alert


def test_registry_failure_never_blocks_the_alert() -> None:
    class BrokenDirectory:
        def location(self, camera_id: str) -> None:
            raise RuntimeError("table unavailable")

    world = World()
    adapters = world.adapters()
    adapters.directory = BrokenDirectory()
    processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = run_batch(load_event("kds_unknown_face.json"), None, SETTINGS, adapters, processor)
    assert response == {"batchItemFailures": []}
    [event] = world.publisher.published
    assert event.detail.model_dump()["location"] is None


def test_a_reject_after_a_failed_record_is_stored_only_once() -> None:
    """cam-1's write fails: Lambda resends the shard from cam-1's first record, so the malformed
    record after it comes back too and must not be stored twice."""
    world = World()
    world.store.fail_commits = 1
    event = kinesis_event([*frames("cam-1", [100.0, 101.0], [STRANGER]), b"{not json"])
    first = world.run(event)
    assert len(first["batchItemFailures"]) == 3
    assert world.rejects.kept == []
    lowest = min(int(f["itemIdentifier"]) for f in first["batchItemFailures"])
    redelivery = {
        "Records": [r for r in event["Records"] if int(r["kinesis"]["sequenceNumber"]) >= lowest]
    }
    assert world.run(redelivery) == {"batchItemFailures": []}
    assert len(world.rejects.kept) == 1
    assert len(world.publisher.published) == 1


def test_sweeper_publishes_an_alert_left_pending_once() -> None:
    """EventBridge was down past every redelivery: the alert waits, then the sweeper sends it."""
    from facewatch.detections.pipeline import SWEEP_AFTER_SECONDS, sweep_pending_alerts  # noqa: PLC0415

    world = World()
    world.store.clock = lambda: world.now
    world.publisher.fail_next = 1
    world.run(load_event("kds_unknown_face.json"))  # publish fails; Lambda gives up later
    assert world.publisher.published == []
    assert sweep_pending_alerts(SETTINGS, world.adapters()) == 0  # too early: face_events' turn
    world.now += SWEEP_AFTER_SECONDS + 1
    assert sweep_pending_alerts(SETTINGS, world.adapters()) == 1
    assert sweep_pending_alerts(SETTINGS, world.adapters()) == 0
    assert len(world.publisher.published) == 1


def test_sweeper_failure_is_reported() -> None:
    from facewatch.detections.pipeline import RedeliveryError, sweep_pending_alerts  # noqa: PLC0415

    world = World()
    world.store.clock = lambda: world.now
    world.publisher.fail_next = 2
    world.run(load_event("kds_unknown_face.json"))
    world.now += 1000
    with pytest.raises(RedeliveryError, match="1 pending events still unpublished"):
        sweep_pending_alerts(SETTINGS, world.adapters())
