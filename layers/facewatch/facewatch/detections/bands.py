"""Match bands: how sure facewatch is that a face, and a visit, is not an employee.

A face's band is decided by its best match's Similarity:

- known: at or above FACE_MATCH_THRESHOLD (an employee; never a detection);
- possible: at or above POSSIBLE_MATCH_FLOOR but below the threshold (maybe that employee);
- unknown: no match at or above the floor (a stranger).

Rekognition returns only matches at or above the threshold it is given: the sampler searches
with the floor and decides here; a stream processor's threshold is at least 80 (AWS raises lower
values), so processor cameras are created with ``processor_threshold`` and their floor is that.

An incident's band follows from its frames (a frame is unknown when one of its unknown-class
faces is a stranger, otherwise possible, naming its best candidate):

- unknown once it has MIN_DETECTIONS unknown frames;
- possible while it has fewer, and every possible frame names the same employee;
- unknown otherwise (possible frames naming two employees are no one employee's).

The evidence only grows, so a band only ever goes from possible to unknown, never back; an
incident hinted as possible that turns unknown is alerted again, paged (incidents.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

# AWS raises a stream processor's FaceMatchThreshold below 80 to 80.
PROCESSOR_MIN_THRESHOLD = 80.0

PossibleAction = Literal["hint", "alert", "ignore"]


class Band(StrEnum):
    KNOWN = "known"
    POSSIBLE = "possible"
    UNKNOWN = "unknown"


def face_band(similarity: float | None, threshold: float, floor: float) -> Band:
    """The band of a face whose best match has ``similarity`` (None: no match at all)."""
    if similarity is not None and similarity >= threshold:
        return Band.KNOWN
    if similarity is not None and similarity >= min(floor, threshold):
        return Band.POSSIBLE
    return Band.UNKNOWN


def processor_threshold(threshold: float, floor: float) -> float:
    """FaceMatchThreshold for a stream processor: the floor, raised to what AWS allows."""
    return max(PROCESSOR_MIN_THRESHOLD, min(floor, threshold))


class Candidate(BaseModel):
    """An employee a possible frame names, with the best Similarity seen."""

    model_config = ConfigDict(frozen=True)
    employee_id: str
    similarity: float


class BandTally(BaseModel):
    """What an incident's band is decided from (kept in the incident's state)."""

    model_config = ConfigDict(frozen=True)
    unknown_frames: int = 0
    candidates: tuple[Candidate, ...] = ()  # one per employee, best similarity

    def with_frame(self, band: Band, candidate: Candidate | None) -> BandTally:
        if band is not Band.POSSIBLE or candidate is None:
            return self.model_copy(update={"unknown_frames": self.unknown_frames + 1})
        others = tuple(c for c in self.candidates if c.employee_id != candidate.employee_id)
        known = next((c for c in self.candidates if c.employee_id == candidate.employee_id), None)
        if known is not None and known.similarity >= candidate.similarity:
            candidate = known
        return self.model_copy(
            update={"candidates": tuple(sorted((*others, candidate), key=lambda c: c.employee_id))}
        )

    def band(self, min_detections: int) -> Band:
        if self.unknown_frames >= min_detections or len(self.candidates) != 1:
            return Band.UNKNOWN
        return Band.POSSIBLE

    def candidate(self, min_detections: int) -> Candidate | None:
        """The one employee a possible incident may be."""
        return self.candidates[0] if self.band(min_detections) is Band.POSSIBLE else None


def should_alert(
    tally: BandTally, detections: int, min_detections: int, possible_action: PossibleAction
) -> bool:
    """Whether an incident with these frames alerts (a possible one only if not ignored)."""
    if detections < min_detections:
        return False
    return tally.band(min_detections) is Band.UNKNOWN or possible_action != "ignore"


def pages(band: Band, possible_action: PossibleAction) -> bool:
    """Whether the alert pages (SMS): unknown always; possible only when set to "alert"."""
    return band is not Band.POSSIBLE or possible_action == "alert"


def hint_text(candidate: Candidate) -> str:
    """What Slack shows for a possible incident: ``possible EMP-10442 (84%)``."""
    return f"possible {candidate.employee_id} ({candidate.similarity:.0f}%)"
