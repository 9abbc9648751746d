from __future__ import annotations

import itertools

import pytest

from facewatch.detections.classification import ClassifiedFace, ClosestEmployee, FaceClass
from facewatch.detections.incidents import (
    CameraState,
    Detection,
    GroupingResult,
    group,
    incident_id_for,
    watermark_key,
)

CAM = "lobby-01"
_seq = itertools.count(1000)


def det(
    t: float, *, shard: str = "shardId-0", seq: int | None = None, closest: float | None = None
) -> Detection:
    face = ClassifiedFace(FaceClass.UNKNOWN, 99.0, 0.1, 0.2, 0.4, 0.3, 50.0, 80.0)
    return Detection(
        camera_id=CAM,
        stream_arn=f"arn:aws:kinesisvideo:eu-west-1:111122223333:stream/{CAM}/1",
        frame_time=t,
        frame_key=f"frag:{t}",
        shard_key=watermark_key("arn:aws:kinesis:eu-west-1:111122223333:stream/d", shard),
        sequence_number=str(seq if seq is not None else next(_seq)),
        face=face,
        closest=ClosestEmployee("EMP-7", closest) if closest else None,
    )


def run(
    state: CameraState, detections: list[Detection], window: float = 60, minimum: int = 2
) -> GroupingResult:
    return group(state, detections, window_seconds=window, min_detections=minimum)


def test_visit_of_many_frames_is_one_incident_that_alerts_once() -> None:
    state = CameraState(camera_id=CAM)
    first = run(state, [det(100 + i) for i in range(50)])
    assert len(first.opened) == 1
    assert [i.detections for i in first.newly_alerting] == [50]
    second = run(first.state, [det(150 + i) for i in range(50)])
    assert second.opened == [] and second.newly_alerting == []
    assert second.state.incidents[0].detections == 100
    assert second.extended_alerted[0].last_seen == 199


def test_min_detections_not_reached_means_no_alert() -> None:
    result = run(CameraState(camera_id=CAM), [det(100)])
    assert len(result.opened) == 1
    assert result.newly_alerting == []
    assert result.suppressed == 1


def test_gap_longer_than_window_opens_a_second_incident() -> None:
    result = run(CameraState(camera_id=CAM), [det(100), det(101), det(162), det(163)])
    assert len(result.opened) == 2
    assert len(result.newly_alerting) == 2
    assert result.opened[0].incident_id != result.opened[1].incident_id


def test_gap_equal_to_window_extends() -> None:
    result = run(CameraState(camera_id=CAM), [det(100), det(160)])
    assert len(result.opened) == 1


def test_out_of_order_across_batches_extends_backwards() -> None:
    first = run(CameraState(camera_id=CAM), [det(130)])
    later = run(first.state, [det(100, shard="shardId-1")])
    assert later.opened == []
    incident = later.state.incidents[0]
    assert (incident.first_seen, incident.last_seen, incident.detections) == (100, 130, 2)
    assert [i.incident_id for i in later.newly_alerting] == [incident.incident_id]


def test_order_inside_a_batch_does_not_matter() -> None:
    detections = [det(t) for t in (100, 140, 101, 250, 139, 251)]
    forward = run(CameraState(camera_id=CAM), detections)
    backward = run(CameraState(camera_id=CAM), list(reversed(detections)))
    assert forward.state.incidents == backward.state.incidents
    assert len(forward.state.incidents) == 2


def test_redelivered_records_change_nothing() -> None:
    detections = [det(100, seq=5), det(101, seq=6)]
    first = run(CameraState(camera_id=CAM), detections)
    again = run(first.state, detections)
    assert not again.changed
    assert again.skipped == 2
    assert again.state == first.state


def test_partial_redelivery_applies_only_the_new_records() -> None:
    first = run(CameraState(camera_id=CAM), [det(100, seq=5)])
    again = run(first.state, [det(100, seq=5), det(101, seq=6)])
    assert again.skipped == 1 and again.applied == 1
    assert again.state.incidents[0].detections == 2


def test_watermarks_are_per_shard() -> None:
    first = run(CameraState(camera_id=CAM), [det(100, shard="shardId-0", seq=50)])
    other = run(first.state, [det(101, shard="shardId-1", seq=10)])
    assert other.applied == 1


def test_closest_employee_keeps_the_highest_similarity() -> None:
    result = run(CameraState(camera_id=CAM), [det(100, closest=61), det(101, closest=72), det(102)])
    assert result.state.incidents[0].closest is not None
    assert result.state.incidents[0].closest.similarity == 72


def test_incident_id_is_deterministic_and_short() -> None:
    assert incident_id_for("a", "f:1") == incident_id_for("a", "f:1")
    assert incident_id_for("a", "f:1") != incident_id_for("b", "f:1")
    assert len(incident_id_for("a", "f:1")) == 16


@pytest.mark.parametrize("minimum", [1, 3])
def test_alert_fires_when_min_detections_is_reached(minimum: int) -> None:
    state = CameraState(camera_id=CAM)
    alerts = 0
    for t in range(100, 105):
        result = run(state, [det(t)], minimum=minimum)
        alerts += len(result.newly_alerting)
        if result.newly_alerting:
            assert result.newly_alerting[0].detections == minimum
        state = result.state
    assert alerts == 1


def test_state_keeps_recent_incidents_only() -> None:
    state = CameraState(camera_id=CAM)
    for hour in range(5):
        state = run(state, [det(hour * 3600.0)]).state
    assert len(state.incidents) == 2


def test_the_same_frame_written_twice_counts_once() -> None:
    """A producer's PutRecords retry: one frame under two sequence numbers."""
    first = det(100, seq=100)
    again = Detection(
        **{**{f: getattr(first, f) for f in first.__slots__}, "sequence_number": "101"}
    )
    result = run(CameraState(camera_id=CAM), [first, again])
    assert result.state.incidents[0].detections == 1
    assert result.newly_alerting == []  # one glimpse never alerts alone
    later = run(
        result.state,
        [
            Detection(
                **{**{f: getattr(first, f) for f in first.__slots__}, "sequence_number": "205"}
            )
        ],
    )
    assert not later.changed and later.skipped == 1


def test_a_duplicate_counts_once_however_late_it_comes() -> None:
    """Frames count once for the incident's life (not only among the latest 128)."""
    state = run(CameraState(camera_id=CAM), [det(1000.0)], minimum=2).state
    for t in range(200):
        state = run(state, [det(2000.0 + t)]).state
    late = run(state, [det(1000.0)])
    assert not late.changed and late.skipped == 1


def test_a_bridge_merges_into_the_earlier_opened_incident() -> None:
    first = run(CameraState(camera_id=CAM), [det(100), det(101)])
    second = run(first.state, [det(170), det(171)])
    bridged = run(second.state, [det(135)])
    [survivor] = bridged.state.incidents
    assert survivor.incident_id == first.state.incidents[0].incident_id
    assert (survivor.first_seen, survivor.last_seen, survivor.detections) == (100, 171, 5)
    [merge] = bridged.merges
    assert merge.merged_into == survivor.incident_id and merge.alerted
    assert [i.incident_id for i, _ in bridged.absorbed] == [merge.incident_id]


def test_old_state_items_migrate_on_read() -> None:
    legacy = {
        "camera_id": CAM,
        "version": 3,
        "watermarks": {"shardId-000000000000": "99"},
        "recent_frames": ["frag:1"],
        "incidents": [],
    }
    state = CameraState.model_validate(legacy)
    assert state.watermarks == {}
    assert state.version == 3
