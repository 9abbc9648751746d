from __future__ import annotations

import pytest

from facewatch.detections.classification import FaceClass, classify
from facewatch.detections.records import FaceSearchEntry
from facewatch.settings import ThresholdSettings
from facewatch_tools.frames import FaceSpec, face_entry

DEFAULTS = ThresholdSettings()


def entry(**kwargs: object) -> FaceSearchEntry:
    return FaceSearchEntry.model_validate(face_entry(FaceSpec(**kwargs)))  # type: ignore[arg-type]


def test_match_at_threshold_is_known() -> None:
    face = classify(entry(employee_id="EMP-1", similarity=80.0), DEFAULTS)
    assert face.face_class is FaceClass.KNOWN
    assert face.employee_id == "EMP-1"


def test_match_below_threshold_is_unknown_with_closest_employee() -> None:
    face = classify(entry(employee_id="EMP-10442", similarity=72.0), DEFAULTS)
    assert face.face_class is FaceClass.UNKNOWN
    assert face.employee_id is None
    assert face.closest is not None
    assert (face.closest.employee_id, face.closest.similarity) == ("EMP-10442", 72.0)


def test_no_match_is_unknown() -> None:
    face = classify(entry(), DEFAULTS)
    assert face.face_class is FaceClass.UNKNOWN
    assert face.closest is None


@pytest.mark.parametrize("confidence", [89.99, 10.0])
def test_low_confidence_is_ignored(confidence: float) -> None:
    assert classify(entry(confidence=confidence), DEFAULTS).face_class is FaceClass.IGNORED


def test_small_face_is_ignored_when_a_minimum_size_is_set() -> None:
    settings = ThresholdSettings.model_validate({"MIN_FACE_SIZE": 0.1})
    assert classify(entry(height=0.09), settings).face_class is FaceClass.IGNORED
    assert classify(entry(height=0.1), settings).face_class is FaceClass.UNKNOWN


def test_best_of_several_matches_decides() -> None:
    raw = face_entry(FaceSpec(employee_id="EMP-1", similarity=60.0))
    better = dict(raw["MatchedFaces"][0], Similarity=91.0)
    better["Face"] = dict(better["Face"], ExternalImageId="EMP-2")
    raw["MatchedFaces"].append(better)
    face = classify(FaceSearchEntry.model_validate(raw), DEFAULTS)
    assert (face.face_class, face.employee_id) == (FaceClass.KNOWN, "EMP-2")
