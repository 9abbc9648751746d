"""Incident grouping: many frames of one visit become one incident that alerts once.

Pure logic over a camera's state. The state (``CameraState``) is one DynamoDB item per camera,
written with optimistic locking, so concurrent invocations (shards) serialise on it and records
that arrive out of order or on different shards still land in the right incident.

Redelivery: Lambda re-sends a shard's records in order from the lowest failed one. The state
keeps, per shard, the highest sequence number already applied to this camera; a record at or
below it is skipped. A camera's records of one batch are applied all or nothing, and
ParallelizationFactor is 1, so the watermark is exact.

Duplicates: a producer that retries PutRecords (after a timeout on a write that succeeded)
puts the same frame twice under new sequence numbers. The state keeps the frame keys of the
camera's most recent detections, so a frame counts once: one glimpse never alerts alone.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from facewatch.detections.bands import (
    Band,
    BandTally,
    Candidate,
    PossibleAction,
    pages,
    should_alert,
)
from facewatch.detections.classification import ClassifiedFace, ClosestEmployee

# Incidents older than this (behind the camera's newest detection) leave the state item.
STATE_HORIZON_SECONDS = 3600.0
MAX_INCIDENTS_IN_STATE = 50
# Frame keys remembered per camera to drop duplicate records (minutes of detections at 1-2 fps;
# producer retries come back within seconds).
RECENT_FRAMES = 128


class FaceSummary(BaseModel):
    """The best face of an incident: where it was in the frame, how sure and how sharp."""

    model_config = ConfigDict(frozen=True)
    confidence: float
    width: float
    height: float
    left: float
    top: float
    brightness: float | None = None
    sharpness: float | None = None

    @classmethod
    def of(cls, face: ClassifiedFace) -> FaceSummary:
        return cls(
            confidence=face.confidence,
            width=face.width,
            height=face.height,
            left=face.left,
            top=face.top,
            brightness=face.brightness,
            sharpness=face.sharpness,
        )

    @property
    def score(self) -> float:
        return self.width * self.height * self.confidence


# The closest employee is the same pair as a band's candidate (employee id, best similarity).
ClosestMatch = Candidate


class IncidentState(BaseModel):
    model_config = ConfigDict(frozen=True)
    incident_id: str
    camera_id: str
    stream_arn: str
    first_seen: float
    last_seen: float
    detections: int
    first_frame_key: str
    best_face: FaceSummary
    first_face: FaceSummary
    closest: ClosestMatch | None = None
    alerted: bool = False
    band_tally: BandTally = BandTally()  # what its match band follows from (bands.py)
    paged: bool = True  # its alert paged (SMS); False: a possible incident's hint, so far

    def band(self, min_detections: int) -> Band:
        return self.band_tally.band(min_detections)


class CameraState(BaseModel):
    """What face_events remembers about one camera (one DynamoDB item, optimistic version)."""

    model_config = ConfigDict(frozen=True)
    camera_id: str
    version: int = 0
    watermarks: dict[str, str] = Field(default_factory=dict)  # shard id -> sequence number
    incidents: tuple[IncidentState, ...] = ()
    unconfirmed: tuple[str, ...] = ()  # incident ids whose alert is not known to be published
    recent_frames: tuple[str, ...] = ()  # frame keys of the latest detections (duplicates)


@dataclass(frozen=True, slots=True)
class Detection:
    """A frame of one camera with at least one unknown face (the best one of the frame)."""

    camera_id: str
    stream_arn: str
    frame_time: float
    frame_key: str
    shard_id: str
    sequence_number: str
    face: ClassifiedFace
    closest: ClosestEmployee | None
    band: Band = Band.UNKNOWN  # possible: every unknown-class face of the frame is a possible match

    def tallied(self, tally: BandTally) -> BandTally:
        closest = self.closest
        candidate = (
            Candidate(employee_id=closest.employee_id, similarity=closest.similarity)
            if closest
            else None
        )
        return tally.with_frame(self.band, candidate)


@dataclass(slots=True)
class GroupingResult:
    state: CameraState
    opened: list[IncidentState] = field(default_factory=list)
    newly_alerting: list[IncidentState] = field(default_factory=list)
    extended_alerted: list[IncidentState] = field(default_factory=list)
    # hinted possible incidents that turned unknown: alerted again, this time paged
    escalated: list[IncidentState] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0  # already applied by an earlier delivery, or a duplicate frame
    suppressed: int = 0  # grouped into an incident that had already alerted, or below threshold

    @property
    def changed(self) -> bool:
        return self.applied > 0


def incident_id_for(camera_id: str, first_frame_key: str) -> str:
    """Deterministic and short enough for an SMS: the same first frame gives the same id."""
    digest = hashlib.sha256(f"{camera_id}|{first_frame_key}".encode()).digest()
    return "INC-" + base64.b32encode(digest).decode()[:12]


def _is_applied(state: CameraState, detection: Detection) -> bool:
    mark = state.watermarks.get(detection.shard_id)
    return mark is not None and int(detection.sequence_number) <= int(mark)


@dataclass(slots=True)
class _Draft:
    """An incident being extended inside one batch: plain fields, one model built at the end."""

    source: IncidentState
    first_seen: float
    last_seen: float
    detections: int
    best_score: float
    closest_similarity: float
    best: ClassifiedFace | None = None
    first: ClassifiedFace | None = None
    closest: ClosestEmployee | None = None
    touched: bool = False
    tally: BandTally = field(default_factory=BandTally)

    @classmethod
    def of(cls, incident: IncidentState) -> _Draft:
        return cls(
            source=incident,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            detections=incident.detections,
            best_score=incident.best_face.score,
            closest_similarity=incident.closest.similarity if incident.closest else -1.0,
            tally=incident.band_tally,
        )

    def add(self, detection: Detection) -> None:
        at = detection.frame_time
        if at < self.first_seen:
            self.first_seen, self.first = at, detection.face
        self.last_seen = max(self.last_seen, at)
        self.detections += 1
        face = detection.face
        score = face.width * face.height * face.confidence
        if score > self.best_score:
            self.best, self.best_score = face, score
        seen = detection.closest
        if seen is not None and seen.similarity > self.closest_similarity:
            self.closest, self.closest_similarity = seen, seen.similarity
        self.tally = detection.tallied(self.tally)
        self.touched = True

    def build(self, min_detections: int, possible_action: PossibleAction) -> IncidentState:
        source = self.source
        update: dict[str, object] = {}
        if self.touched:
            update = {
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "detections": self.detections,
                "band_tally": self.tally,
            }
            if self.best is not None:
                update["best_face"] = FaceSummary.of(self.best)
            if self.first is not None:
                update["first_face"] = FaceSummary.of(self.first)
            if self.closest is not None:
                update["closest"] = ClosestMatch(
                    employee_id=self.closest.employee_id, similarity=self.closest.similarity
                )
        if not source.alerted and should_alert(
            self.tally, self.detections, min_detections, possible_action
        ):
            update["alerted"] = True
            update["paged"] = pages(self.tally.band(min_detections), possible_action)
        elif (
            source.alerted and not source.paged and self.tally.band(min_detections) is Band.UNKNOWN
        ):
            update["paged"] = True
        return source.model_copy(update=update) if update else source


def _nearest(drafts: list[_Draft], at: float, window: float) -> _Draft | None:
    best: tuple[float, _Draft] | None = None
    for draft in drafts:
        if draft.first_seen - window <= at <= draft.last_seen + window:
            distance = max(draft.first_seen - at, at - draft.last_seen, 0.0)
            if best is None or distance < best[0]:
                best = (distance, draft)
    return None if best is None else best[1]


def _open(detection: Detection) -> IncidentState:
    face = FaceSummary.of(detection.face)
    closest = detection.closest
    return IncidentState(
        incident_id=incident_id_for(detection.camera_id, detection.frame_key),
        camera_id=detection.camera_id,
        stream_arn=detection.stream_arn,
        first_seen=detection.frame_time,
        last_seen=detection.frame_time,
        detections=1,
        first_frame_key=detection.frame_key,
        best_face=face,
        first_face=face,
        closest=(
            ClosestMatch(employee_id=closest.employee_id, similarity=closest.similarity)
            if closest
            else None
        ),
        band_tally=detection.tallied(BandTally()),
    )


def group(
    state: CameraState,
    detections: list[Detection],
    *,
    window_seconds: float,
    min_detections: int,
    possible_action: PossibleAction = "hint",
) -> GroupingResult:
    """Apply a batch's detections of one camera to its state. Order of input does not matter."""
    seen = set(state.recent_frames)
    unapplied = [d for d in detections if not _is_applied(state, d)]
    fresh = []
    for detection in unapplied:
        if detection.frame_key not in seen:
            seen.add(detection.frame_key)
            fresh.append(detection)
    result = GroupingResult(state=state, skipped=len(detections) - len(fresh))
    if not fresh:  # nothing new (a redelivery or duplicates only): no write at all
        return result
    drafts = [_Draft.of(i) for i in state.incidents]
    opened: set[str] = set()
    for detection in sorted(fresh, key=lambda d: (d.frame_time, d.frame_key)):
        draft = _nearest(drafts, detection.frame_time, window_seconds)
        if draft is None:
            incident = _open(detection)
            drafts.append(_Draft.of(incident))
            opened.add(incident.incident_id)
        else:
            draft.add(detection)
    incidents = [d.build(min_detections, possible_action) for d in drafts]
    before = {i.incident_id: i for i in state.incidents}
    newly_alerting = [
        i
        for i in incidents
        if i.alerted and not (i.incident_id in before and before[i.incident_id].alerted)
    ]
    result.opened = [i for i in incidents if i.incident_id in opened]
    result.newly_alerting = newly_alerting
    result.escalated = [
        i
        for i in incidents
        if i.paged and i.incident_id in before and before[i.incident_id].alerted
        and not before[i.incident_id].paged
    ]  # fmt: skip
    result.extended_alerted = [
        built
        for built, draft in zip(incidents, drafts, strict=True)
        if draft.touched and draft.source.alerted
    ]
    result.suppressed = len(fresh) - len(newly_alerting)
    result.applied = len(fresh)
    recent = state.recent_frames + tuple(d.frame_key for d in fresh)
    result.state = state.model_copy(
        update={
            "version": state.version + 1,
            "watermarks": _advanced(state.watermarks, unapplied),
            "incidents": _trim(incidents),
            "unconfirmed": state.unconfirmed + tuple(i.incident_id for i in newly_alerting),
            "recent_frames": recent[-RECENT_FRAMES:],
        }
    )
    return result


def _advanced(watermarks: dict[str, str], detections: list[Detection]) -> dict[str, str]:
    marks = dict(watermarks)
    for detection in detections:
        mark = marks.get(detection.shard_id)
        if mark is None or int(detection.sequence_number) > int(mark):
            marks[detection.shard_id] = detection.sequence_number
    return marks


def _trim(incidents: list[IncidentState]) -> tuple[IncidentState, ...]:
    newest = max(i.last_seen for i in incidents)
    kept = [i for i in incidents if i.last_seen >= newest - STATE_HORIZON_SECONDS]
    kept.sort(key=lambda i: i.last_seen)
    return tuple(kept[-MAX_INCIDENTS_IN_STATE:])
