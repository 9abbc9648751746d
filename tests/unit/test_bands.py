"""Match bands (detections/bands.py): faces, incidents, the alert event and who gets paged."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.fanout import BusEnvelope, Outcome
from facewatch.alerts.slack.messages import alert_message
from facewatch.alerts.sms.notifier import SmsAdapters, SmsNotifier, SnsTopic
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.detections.bands import (
    Band,
    BandTally,
    Candidate,
    face_band,
    processor_threshold,
)
from facewatch.detections.classification import (
    ClassifiedFace,
    ClosestEmployee,
    FaceClass,
    classify,
)
from facewatch.detections.incidents import CameraState, Detection, group
from facewatch.detections.pipeline import Adapters, run_batch
from facewatch.detections.records import FaceSearchEntry
from facewatch.settings import FaceEventsSettings, ThresholdSettings
from facewatch_tools.fleet.stacks import read_main_stack
from facewatch_tools.frames import FaceSpec, face_entry, frame_record
from facewatch_tools.kinesis_events import kinesis_event
from facewatch_tools.local.outcome import IncidentRow
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore
from tests.fanout.builders import InMemoryOnce, alert_detail, envelope

pytestmark = pytest.mark.usefixtures("no_network")

BANDED = ThresholdSettings.model_validate({"FACE_MATCH_THRESHOLD": 90, "POSSIBLE_MATCH_FLOOR": 80})
CAM = "lobby-01"
_seq = itertools.count(5000)


def entry(**kwargs: Any) -> FaceSearchEntry:
    return FaceSearchEntry.model_validate(face_entry(FaceSpec(**kwargs)))


# ---- faces -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("similarity", "band"),
    [
        (None, Band.UNKNOWN),
        (79.99, Band.UNKNOWN),
        (80.0, Band.POSSIBLE),
        (89.99, Band.POSSIBLE),
        (90.0, Band.KNOWN),
        (100.0, Band.KNOWN),
    ],
)
def test_face_band_edges(similarity: float | None, band: Band) -> None:
    assert face_band(similarity, 90.0, 80.0) is band


def test_a_floor_above_the_threshold_leaves_no_possible_band() -> None:
    assert face_band(85.0, 80.0, 90.0) is Band.KNOWN
    assert face_band(79.0, 80.0, 90.0) is Band.UNKNOWN


def test_a_match_below_the_floor_is_no_closest_employee() -> None:
    face = classify(entry(employee_id="EMP-20311", similarity=59.0), ThresholdSettings())
    assert face.face_class is FaceClass.UNKNOWN
    assert face.closest is None and face.band is Band.UNKNOWN


def test_a_match_in_the_band_is_a_possible_face() -> None:
    face = classify(entry(employee_id="EMP-10442", similarity=84.0), BANDED)
    assert face.face_class is FaceClass.UNKNOWN and face.band is Band.POSSIBLE
    assert face.closest == ClosestEmployee("EMP-10442", 84.0)


@pytest.mark.parametrize(
    ("threshold", "floor", "processor"), [(80, 70, 80), (90, 70, 80), (90, 85, 85), (85, 95, 85)]
)
def test_processors_search_from_the_floor_raised_to_80(
    threshold: float, floor: float, processor: float
) -> None:
    assert processor_threshold(threshold, floor) == processor


def test_camera_stacks_create_processors_at_the_floor() -> None:
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    params = {"Environment": "dev", "FaceMatchThreshold": "90", "PossibleMatchFloor": "85"}
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "facewatch",
                        "CreationTime": "2026-11-01T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Parameters": [
                            {"ParameterKey": k, "ParameterValue": v} for k, v in params.items()
                        ],
                    }
                ]
            },
            {"StackName": "facewatch"},
        )
        main = read_main_stack(cloudformation, "facewatch")
    assert main.face_match_threshold == "85"


# ---- incidents ---------------------------------------------------------------------------------
def det(t: float, employee: str | None = None, similarity: float = 84.0) -> Detection:
    face = ClassifiedFace(FaceClass.UNKNOWN, 99.0, 0.1, 0.2, 0.4, 0.3, 50.0, 80.0)
    return Detection(
        camera_id=CAM,
        stream_arn=f"arn:aws:kinesisvideo:eu-west-1:111122223333:stream/{CAM}/1",
        frame_time=t,
        frame_key=f"frag:{t}",
        shard_key="arn:aws:kinesis:eu-west-1:111122223333:stream/d|shardId-0",
        sequence_number=str(next(_seq)),
        face=face,
        closest=ClosestEmployee(employee, similarity) if employee else None,
        band=Band.POSSIBLE if employee else Band.UNKNOWN,
    )


def test_a_visit_of_possible_frames_for_one_employee_is_a_possible_incident() -> None:
    result = group(
        CameraState(camera_id=CAM),
        [det(100, "EMP-1", 83.0), det(101, "EMP-1", 86.0), det(102, "EMP-1", 81.0)],
        window_seconds=60,
        min_detections=2,
    )
    [incident] = result.newly_alerting
    assert incident.band(2) is Band.POSSIBLE
    assert incident.band_tally.candidate(2) == Candidate(employee_id="EMP-1", similarity=86.0)


def test_min_detections_unknown_frames_make_an_unknown_incident() -> None:
    frames = [det(100, "EMP-1"), det(101), det(102)]
    result = group(CameraState(camera_id=CAM), frames, window_seconds=60, min_detections=2)
    assert result.newly_alerting[0].band(2) is Band.UNKNOWN


def test_possible_frames_of_two_employees_are_unknown() -> None:
    frames = [det(100, "EMP-1"), det(101, "EMP-2")]
    result = group(CameraState(camera_id=CAM), frames, window_seconds=60, min_detections=2)
    assert result.newly_alerting[0].band(2) is Band.UNKNOWN


def test_ignored_possible_incidents_alert_only_once_they_turn_unknown() -> None:
    state = CameraState(camera_id=CAM)
    first = group(
        state,
        [det(100, "EMP-1"), det(101, "EMP-1")],
        window_seconds=60,
        min_detections=2,
        possible_action="ignore",
    )
    assert first.newly_alerting == []
    second = group(
        first.state,
        [det(102), det(103)],
        window_seconds=60,
        min_detections=2,
        possible_action="ignore",
    )
    assert [i.band(2) for i in second.newly_alerting] == [Band.UNKNOWN]


def oracle_band(frames: list[str | None], min_detections: int) -> Band:
    """From README's definition: MIN_DETECTIONS unknown frames, or not exactly one candidate."""
    unknown = sum(1 for f in frames if f is None)
    named = {f for f in frames if f is not None}
    return Band.UNKNOWN if unknown >= min_detections or len(named) != 1 else Band.POSSIBLE


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    frames=st.lists(st.sampled_from([None, "EMP-1", "EMP-2"]), min_size=1, max_size=12),
    minimum=st.integers(1, 4),
    split=st.integers(0, 12),
    order=st.randoms(use_true_random=False),
)
def test_incident_band_matches_the_definition_in_any_order_and_batching(
    frames: list[str | None], minimum: int, split: int, order: Any
) -> None:
    times = [100 + i for i in range(len(frames))]
    order.shuffle(times)  # delivery order; sequence numbers grow with it, as on a shard
    detections = [det(t, frames[t - 100]) for t in times]
    state = CameraState(camera_id=CAM)
    for batch in (detections[:split], detections[split:]):
        state = group(state, batch, window_seconds=60, min_detections=minimum).state
    [incident] = state.incidents
    assert incident.band(minimum) is oracle_band(frames, minimum)


def test_a_state_written_before_bands_reads_as_unknown() -> None:
    assert BandTally().band(2) is Band.UNKNOWN


# ---- the alert ---------------------------------------------------------------------------------
def alerts_for(faces: list[FaceSpec], **env: str) -> list[dict[str, Any]]:
    settings_ = FaceEventsSettings.model_validate(
        {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q"}
        | {"FACE_MATCH_THRESHOLD": "90", "POSSIBLE_MATCH_FLOOR": "80"}
        | env
    )
    publisher = FakePublisher()
    adapters = Adapters(
        store=FakeStore(),
        publisher=publisher,
        clips=FakeClips(),
        rejects=FakeRejects(),
        clock=lambda: 1795000100.0,
        metrics=FakeMetrics(),
    )
    records = [frame_record("cam-1", 100.0 + i, faces) for i in range(3)]
    processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    run_batch(kinesis_event(records), None, settings_, adapters, processor)
    return [e.detail.model_dump(by_alias=True, mode="json") for e in publisher.published]


def test_a_possible_incident_is_a_hint_that_does_not_page_by_default() -> None:
    [detail] = alerts_for([FaceSpec("EMP-10442", similarity=84.0)])
    assert detail["band"] == "possible"
    assert detail["hint"] == "possible EMP-10442 (84%)"
    assert detail["page"] is False
    assert detail["closestEmployee"] == {"employeeId": "EMP-10442", "similarity": 84.0}


def test_possible_match_action_alert_pages_and_ignore_drops() -> None:
    [paged] = alerts_for([FaceSpec("EMP-10442", similarity=84.0)], POSSIBLE_MATCH_ACTION="alert")
    assert (paged["band"], paged["page"]) == ("possible", True)
    ignored = alerts_for([FaceSpec("EMP-10442", similarity=84.0)], POSSIBLE_MATCH_ACTION="ignore")
    assert ignored == []


def test_a_stranger_next_to_a_possible_match_is_an_unknown_incident() -> None:
    [detail] = alerts_for([FaceSpec("EMP-10442", similarity=84.0), FaceSpec(left=0.7)])
    assert (detail["band"], detail["page"], detail["hint"]) == ("unknown", True, None)


class RecordingTopic(SnsTopic):
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, text: str, attributes: dict[str, str] | None = None) -> str:
        self.sent.append(text)
        return "msg-1"


@pytest.mark.parametrize(
    ("page", "outcome", "sent"), [(False, Outcome.NOT_PAGED, 0), (True, Outcome.SENT, 1)]
)
def test_sms_pages_only_what_the_alert_says_to(page: bool, outcome: Outcome, sent: int) -> None:
    topic = RecordingTopic()
    notifier = SmsNotifier(SmsAdapters(topic=topic, once=InMemoryOnce(), clip_links=ClipLinks()))
    detail = alert_detail() | {"schemaVersion": "1.2", "band": "possible", "page": page}
    assert notifier.deliver(BusEnvelope.model_validate(envelope(detail))) is outcome
    assert len(topic.sent) == sent


def test_slack_shows_the_hint() -> None:
    detail = alert_detail() | {
        "band": "possible",
        "hint": "possible EMP-10442 (84%)",
        "page": False,
    }
    message = alert_message(alert_view(AlertDetail.model_validate(detail), None))
    assert "possible EMP-10442 (84%)" in str(message.blocks)


def test_replay_json_carries_band_and_closest_employee() -> None:
    row = IncidentRow("INC-1", "cam-1", "a", "b", 3, True, None, "EMP-10442", "possible", 84.0)
    out = row.as_json()
    assert out["band"] == "possible"
    assert out["closestEmployee"] == {"employeeId": "EMP-10442", "similarity": 84.0}


def test_a_hinted_possible_incident_that_turns_unknown_is_alerted_again_and_paged() -> None:
    first = group(
        CameraState(camera_id=CAM),
        [det(100, "EMP-1"), det(101, "EMP-1")],
        window_seconds=60,
        min_detections=2,
    )
    [hinted] = first.newly_alerting
    assert (hinted.band(2), hinted.paged) == (Band.POSSIBLE, False)
    second = group(first.state, [det(102)], window_seconds=60, min_detections=2)
    assert second.escalated == []  # one unknown frame: still possible
    third = group(second.state, [det(103)], window_seconds=60, min_detections=2)
    [escalated] = third.escalated
    assert (escalated.band(2), escalated.paged) == (Band.UNKNOWN, True)
    fourth = group(third.state, [det(104)], window_seconds=60, min_detections=2)
    assert fourth.escalated == []  # paged once


def test_the_escalation_is_published_as_a_paging_alert() -> None:
    settings_ = FaceEventsSettings.model_validate(
        {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", "REJECTED_QUEUE_URL": "q"}
        | {"FACE_MATCH_THRESHOLD": "90", "POSSIBLE_MATCH_FLOOR": "80"}
    )
    publisher = FakePublisher()
    adapters = Adapters(
        store=FakeStore(),
        publisher=publisher,
        clips=FakeClips(),
        rejects=FakeRejects(),
        clock=lambda: 1795000100.0,
        metrics=FakeMetrics(),
    )
    possible = [frame_record("cam-1", 100.0 + i, [FaceSpec("EMP-10442", 84.0)]) for i in range(2)]
    stranger = [frame_record("cam-1", 102.0 + i, [FaceSpec()]) for i in range(2)]
    for batch, first_sequence in ((possible, 1000), (stranger, 2000)):
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        event = kinesis_event(batch, first_sequence=first_sequence)
        run_batch(event, None, settings_, adapters, processor)
    details = [
        e.detail.model_dump(by_alias=True)
        for e in publisher.published
        if e.detail_type == "Unknown Face Detected"  # the hint grew too: an Incident Updated
    ]
    assert [(d["band"], d["page"]) for d in details] == [("possible", False), ("unknown", True)]
    assert details[0]["incidentId"] == details[1]["incidentId"]
