"""Face classification: known employee, unknown person, or ignored (too unsure or too small).

A match below FACE_MATCH_THRESHOLD is never a recognition: it is kept only as the "closest
employee" hint that helps a human decide.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from facewatch.records import FaceSearchEntry
from facewatch.settings import ThresholdSettings


class FaceClass(StrEnum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class ClosestEmployee:
    employee_id: str
    similarity: float


@dataclass(frozen=True, slots=True)
class ClassifiedFace:
    face_class: FaceClass
    confidence: float
    width: float
    height: float
    left: float
    top: float
    brightness: float | None
    sharpness: float | None
    employee_id: str | None = None  # set for KNOWN faces
    closest: ClosestEmployee | None = None  # best match below the threshold, for UNKNOWN faces

    @property
    def area(self) -> float:
        return self.width * self.height


def classify(entry: FaceSearchEntry, thresholds: ThresholdSettings) -> ClassifiedFace:
    face = entry.DetectedFace
    box = face.BoundingBox
    best = max(entry.MatchedFaces, key=lambda m: m.Similarity, default=None)
    seen = ClassifiedFace(
        FaceClass.UNKNOWN,
        confidence=face.Confidence,
        width=box.Width,
        height=box.Height,
        left=box.Left,
        top=box.Top,
        brightness=face.Quality.Brightness if face.Quality else None,
        sharpness=face.Quality.Sharpness if face.Quality else None,
    )
    if best is not None and best.Similarity >= thresholds.face_match_threshold:
        employee_id = best.Face.ExternalImageId or best.Face.FaceId
        return replace(seen, face_class=FaceClass.KNOWN, employee_id=employee_id)
    if face.Confidence < thresholds.min_face_confidence or box.Height < thresholds.min_face_size:
        return replace(seen, face_class=FaceClass.IGNORED)
    if best is not None and best.Face.ExternalImageId:
        return replace(seen, closest=ClosestEmployee(best.Face.ExternalImageId, best.Similarity))
    return seen
