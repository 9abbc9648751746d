"""Every record the project ships or writes is one Rekognition can produce (frames.check_record).

Fixtures of malformed input (events/kds_malformed.json) are the exception by design: they test
the reject path and are not Rekognition records at all.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from facewatch_tools.frames import (
    FaceSpec,
    ImpossibleRecordError,
    check_record,
    frame_record,
    record_problems,
)

ROOT = Path(__file__).resolve().parents[2]
MALFORMED_ON_PURPOSE = {"kds_malformed.json"}


def shipped_records() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((ROOT / "events").glob("kds_*.json")):
        if path.name in MALFORMED_ON_PURPOSE:
            continue
        for index, record in enumerate(json.loads(path.read_text())["Records"]):
            data = base64.b64decode(record["kinesis"]["data"], validate=True)
            found.append((f"events/{path.name}#{index}", json.loads(data)))
    for path in sorted((ROOT / "tests" / "fixtures").rglob("*.json")):
        found.append((str(path.relative_to(ROOT)), json.loads(path.read_text())))
    return found


SHIPPED = shipped_records()


def test_there_are_fixtures_to_check() -> None:
    assert len(SHIPPED) >= 8


@pytest.mark.parametrize(("where", "record"), SHIPPED, ids=[w for w, _ in SHIPPED])
def test_every_fixture_record_is_possible(where: str, record: dict[str, Any]) -> None:
    assert record_problems(record) == [], where


def test_the_malformed_fixture_really_is_not_decodable_records() -> None:
    path = ROOT / "events" / "kds_malformed.json"
    problems = 0
    for record in json.loads(path.read_text())["Records"]:
        try:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]))
            problems += bool(record_problems(data))
        except (ValueError, binascii.Error):
            problems += 1
    assert problems >= 3


def good() -> dict[str, Any]:
    return frame_record(
        "lobby-01", 1795000000.5, [FaceSpec("EMP-10442", similarity=93.0), FaceSpec(left=0.7)]
    )


def test_a_good_record_passes_unchanged() -> None:
    record = good()
    assert check_record(record) is record


def test_a_face_at_the_edge_may_stick_out_of_the_frame() -> None:
    # AWS: Left/Top can be negative (or + Width above 1) for a face cut by the edge
    assert record_problems(frame_record("c", 1.0, [FaceSpec(left=-0.03, top=0.9, width=0.1)])) == []


def test_a_processor_match_below_80_is_refused() -> None:
    record = frame_record("c", 1.0, [FaceSpec("EMP-20311", similarity=59.0)])
    with pytest.raises(ImpossibleRecordError, match="match below 80"):
        check_record(record)
    assert record_problems(record, min_similarity=50.0) == []  # a sampler searching from 50


def mutate(path: list[str | int], value: Any) -> dict[str, Any]:
    record = copy.deepcopy(good())
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return record


BOX = ["FaceSearchResponse", 0, "DetectedFace", "BoundingBox"]


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ([*BOX, "Left"], 1.2, "outside the frame"),
        ([*BOX, "Top"], -0.5, "outside the frame"),
        ([*BOX, "Width"], 0.0, r"\(0, 1\]"),
        (["StreamProcessorInformation", "Status"], "STOPPED", "RUNNING"),
        (["FaceSearchResponse", 0, "DetectedFace", "Landmarks", 0, "Type"], "chin", "landmarks"),
        (["FaceSearchResponse", 0, "DetectedFace", "Pose", "Yaw"], 200.0, "pose"),
        (["FaceSearchResponse", 0, "MatchedFaces", 0, "Face", "FaceId"], "EMP-1", "UUID"),
        (["FaceSearchResponse", 0, "MatchedFaces", 0, "Face", "ExternalImageId"], "a b", "1-255"),
        (["FaceSearchResponse", 0, "DetectedFace", "Confidence"], 101.0, "field errors"),
    ],
)
def test_impossible_records_are_refused(path: list[str | int], value: Any, reason: str) -> None:
    with pytest.raises(ImpossibleRecordError, match=reason):
        check_record(mutate(path, value))


def test_matches_must_come_best_first() -> None:
    record = good()
    matches = record["FaceSearchResponse"][0]["MatchedFaces"]
    matches.append(dict(matches[0], Similarity=99.0))
    with pytest.raises(ImpossibleRecordError, match="highest first"):
        check_record(record)
