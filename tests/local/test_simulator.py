"""The camera simulator: scenario -> records in the exact AWS format, deterministic by seed."""

from __future__ import annotations

import pytest

from facewatch.detections.classification import FaceClass, classify
from facewatch.detections.records import ProcessorRecord
from facewatch.settings import ThresholdSettings
from facewatch_tools.frames import record_problems
from facewatch_tools.local.scenario import ScenarioError, load_scenario, parse_scenario
from facewatch_tools.local.simulator import SimFrame, frames, play

pytestmark = pytest.mark.usefixtures("no_network")

START = 1795000000.0


def test_the_default_scenario_ships_and_uses_the_inventory_cameras() -> None:
    scenario = load_scenario()
    assert {c.id for c in scenario.cameras} == {
        "seoul-hq-lobby-01",
        "seoul-hq-dock-01",
        "berlin-reception-01",
    }
    assert scenario.slack_routes() == ["seoul"]
    # Each office's desk phone gets its own office's alerts; nobody is org-wide.
    assert scenario.phones_of("seoul-hq") == ["+821055501234"]
    assert scenario.phones_of("berlin") == ["+4915550100"]
    assert scenario.phones_of(None) == []


def test_same_seed_same_records() -> None:
    scenario = load_scenario()
    assert [f.record for f in frames(scenario, START, {})] == [
        f.record for f in frames(scenario, START, {})
    ]


def test_records_are_processor_records_that_classify_as_the_scenario_says() -> None:
    scenario = load_scenario()
    employees = scenario.employee_ids()
    # a band above the processor's 80: side-on matches (80-89.5) are possible, not known
    thresholds = ThresholdSettings.model_validate({"FACE_MATCH_THRESHOLD": 90})
    side_on = weak = 0
    for frame in frames(scenario, START, {}):
        record = ProcessorRecord.model_validate(frame.record)
        assert record.camera_id == frame.camera_id
        assert record.frame_time == pytest.approx(START + frame.offset, abs=1e-3)
        assert len(record.faces) == len(frame.people)
        for person, entry in zip(frame.people, record.faces, strict=True):
            face = entry.DetectedFace
            assert face.Pose is not None and face.Quality is not None
            assert len(face.Landmarks) == 5
            found = classify(entry, thresholds)
            if person not in employees:
                assert entry.MatchedFaces == []
                assert found.face_class is FaceClass.UNKNOWN
            elif abs(face.Pose.Yaw) >= 45:
                side_on += 1
                weak += bool(entry.MatchedFaces)
                assert found.face_class is not FaceClass.KNOWN
                assert all(m.Similarity >= 80 for m in entry.MatchedFaces)
            else:
                [match] = entry.MatchedFaces
                assert match.Face.ExternalImageId == person
                assert found.face_class is FaceClass.KNOWN
    assert side_on > 0 and 0 < weak < side_on


def test_every_simulated_record_is_one_rekognition_can_produce() -> None:
    planned = frames(load_scenario(), START, {})
    assert planned and all(record_problems(f.record) == [] for f in planned)


def test_the_simulator_refuses_a_search_threshold_it_cannot_meet() -> None:
    # a sampler searching from 70 may return 70: a processor (80) never does
    planned = frames(load_scenario(), START, {}, search_threshold=70.0)
    weak = [
        m["Similarity"]
        for f in planned
        for e in f.record["FaceSearchResponse"]
        for m in e["MatchedFaces"]
        if m["Similarity"] < 80
    ]
    assert weak and all(s >= 70 for s in weak)
    assert any(record_problems(f.record) for f in planned)  # not processor records


def test_an_unknown_camera_in_a_visit_is_a_clear_error() -> None:
    text = """
sites: [{id: s, name: S}]
cameras: [{id: c, site: s, display_name: C}]
visits: [{person: x, camera: nowhere, at: 0, seconds: 1}]
"""
    with pytest.raises(ScenarioError, match="unknown camera 'nowhere'"):
        parse_scenario(text, "test.yaml")


def test_a_phone_for_an_unknown_site_is_a_clear_error() -> None:
    text = """
sites: [{id: s, name: S}]
cameras: [{id: c, site: s, display_name: C}]
phones: ["+821055501234", {number: "+4915550100", site: nowhere}]
"""
    with pytest.raises(ScenarioError, match="unknown site 'nowhere'"):
        parse_scenario(text, "test.yaml")


def test_play_puts_frames_when_due_at_the_given_speed() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    planned = [SimFrame(t, "c", {}, ()) for t in (0.0, 0.0, 5.0, 10.0)]
    batches: list[int] = []
    playback = play(
        planned, lambda b: batches.append(len(b)), speed=10, clock=lambda: now[0], sleep=sleep
    )
    assert batches == [2, 1, 1]
    assert slept == pytest.approx([0.5, 0.5])
    assert [at for _, at in playback.put_at] == pytest.approx([0.0, 0.0, 0.5, 1.0])
