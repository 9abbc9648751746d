from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from facewatch.detections.records import ProcessorRecord, camera_id_from_stream_arn
from facewatch.timestamps import iso
from tests.conftest import FIXTURES, sample_record

SAMPLES = [
    "unknown-face.json",
    "unknown-face-exponent-timestamps.json",
    "employee-face.json",
    "employee-and-unknown.json",
    "no-face.json",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_aws_sample_parses(name: str) -> None:
    record = ProcessorRecord.model_validate(sample_record(name))
    assert record.camera_id == "seoul-hq-lobby-01"
    assert record.frame_time > 1.79e9


def test_exponent_timestamps_are_the_same_instant() -> None:
    plain = ProcessorRecord.model_validate(sample_record("unknown-face.json"))
    text = (FIXTURES / "records" / "unknown-face-exponent-timestamps.json").read_text()
    exponent = ProcessorRecord.model_validate_json(text)
    assert "E9" in text
    assert exponent.frame_time == pytest.approx(plain.frame_time)


def test_frame_time_is_producer_timestamp_plus_offset() -> None:
    record = ProcessorRecord.model_validate(sample_record("employee-and-unknown.json"))
    assert record.frame_time == pytest.approx(1795000004.12 + 0.8)
    assert iso(record.frame_time) == "2026-11-18T11:06:44.920Z"


@pytest.mark.parametrize("value", [None, [], "missing"])
def test_empty_or_missing_face_search_response_is_a_frame_without_faces(value: object) -> None:
    data = sample_record("unknown-face.json")
    if value == "missing":
        del data["FaceSearchResponse"]
    else:
        data["FaceSearchResponse"] = value
    assert ProcessorRecord.model_validate(data).faces == []


def test_fields_aws_may_add_are_tolerated() -> None:
    data = sample_record("unknown-face.json")
    data["NewTopLevel"] = {"x": 1}
    data["FaceSearchResponse"][0]["DetectedFace"]["Emotions"] = [{"Type": "CALM"}]
    assert len(ProcessorRecord.model_validate(data).faces) == 1


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("InputInformation", "KinesisVideo", "StreamArn"), "not-an-arn"),
        (("InputInformation", "KinesisVideo", "ProducerTimestamp"), "soon"),
        (("InputInformation", "KinesisVideo", "FrameOffsetInSeconds"), -1),
        (("FaceSearchResponse", 0, "DetectedFace", "Confidence"), 120),
        (("FaceSearchResponse", 0, "DetectedFace", "BoundingBox", "Height"), float("nan")),
    ],
)
def test_fields_we_use_are_strict(path: tuple[str | int, ...], value: object) -> None:
    data = sample_record("unknown-face.json")
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        ProcessorRecord.model_validate(data)


def test_camera_id_is_the_kvs_stream_name() -> None:
    arn = "arn:aws:kinesisvideo:eu-central-1:111122223333:stream/berlin-reception-01/1700000000000"
    assert camera_id_from_stream_arn(arn) == "berlin-reception-01"
    with pytest.raises(ValueError, match="not a Kinesis Video stream ARN"):
        camera_id_from_stream_arn("arn:aws:kinesis:eu-central-1:111122223333:stream")
