"""Face classification: known employee, unknown person, or ignored (too unsure or too small).

A match below FACE_MATCH_THRESHOLD is never a recognition: from POSSIBLE_MATCH_FLOOR up it is
kept as the "closest employee" that makes the face a possible match (detections/bands.py); a
match below the floor is noise and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from facewatch.detections.bands import Band, face_band
from facewatch.detections.records import FaceSearchEntry
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
    closest: ClosestEmployee | None = None  # best match in the possible band, for UNKNOWN faces

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def band(self) -> Band:
        if self.face_class is FaceClass.KNOWN:
            return Band.KNOWN
        return Band.POSSIBLE if self.closest is not None else Band.UNKNOWN


def classify(entry: FaceSearchEntry, thresholds: ThresholdSettings) -> ClassifiedFace:
    face = entry.DetectedFace
    box = face.BoundingBox
    quality = face.Quality
    best = max(entry.MatchedFaces, key=lambda m: m.Similarity, default=None)
    face_class = FaceClass.UNKNOWN
    employee_id: str | None = None
    closest: ClosestEmployee | None = None
    band = face_band(
        best.Similarity if best else None,
        thresholds.face_match_threshold,
        thresholds.possible_match_floor,
    )
    if best is not None and band is Band.KNOWN:
        face_class = FaceClass.KNOWN
        employee_id = best.Face.ExternalImageId or best.Face.FaceId
    elif face.Confidence < thresholds.min_face_confidence or box.Height < thresholds.min_face_size:
        face_class = FaceClass.IGNORED
    elif best is not None and band is Band.POSSIBLE and best.Face.ExternalImageId:
        closest = ClosestEmployee(best.Face.ExternalImageId, best.Similarity)
    return ClassifiedFace(
        face_class,
        confidence=face.Confidence,
        width=box.Width,
        height=box.Height,
        left=box.Left,
        top=box.Top,
        brightness=quality.Brightness if quality else None,
        sharpness=quality.Sharpness if quality else None,
        employee_id=employee_id,
        closest=closest,
    )
