"""Incident grouping: the frames of one visit become one incident that alerts once.

The definition (README "How face_events works"): a camera's visits are what its time-sorted,
distinct unknown-face frames say; a gap longer than INCIDENT_WINDOW_SECONDS splits them. A visit
alerts once it has MIN_DETECTIONS frames. ``group`` keeps a camera's incidents equal to that
whatever order, batching, sharding or redelivery the frames come in:

- a frame within the window of one incident extends it (backwards too);
- a frame within the window of two incidents bridges them: the earlier-opened survives and
  absorbs the other (``merged``);
- a frame older than what the state still holds is matched against the incidents recalled from
  the table (``recalled``: the pipeline looks them up by camera and time);
- every frame counts once for the incident's whole life (its ``frames`` set).

Pure logic over a camera's state, one DynamoDB item per camera written with optimistic locking,
so concurrent invocations (shards) serialise on it.

Redelivery: Lambda re-sends a shard's records in order from the lowest failed one. The state
keeps, per stream and shard (sequence numbers are ordered only within one shard of one stream),
the highest sequence number applied to this camera; a record at or below it is skipped.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from facewatch.detections import frame_set
from facewatch.detections.bands import (
    Band,
    BandTally,
    Candidate,
    PossibleAction,
    pages,
    should_alert,
)
from facewatch.detections.classification import ClassifiedFace, ClosestEmployee

# Incidents older than this (behind the camera's newest detection) leave the state item; the
# alerted ones are found again in the table by camera and time.
STATE_HORIZON_SECONDS = 3600.0
MAX_INCIDENTS_IN_STATE = 50
MAX_MERGES_IN_STATE = 50


class FaceSummary(BaseModel):
    """The best face of an incident: where it was in the frame, how sure and how sharp, and
    when that frame was taken (what a better Slack snapshot is taken at)."""

    model_config = ConfigDict(frozen=True)
    confidence: float
    width: float
    height: float
    left: float
    top: float
    brightness: float | None = None
    sharpness: float | None = None
    # the frame's time (the detection's frame time, s); None in items written before it was
    # kept: such a face's frame is unknown, so its incident keeps the snapshot it has
    frame_time: float | None = None

    @classmethod
    def of(cls, face: ClassifiedFace, frame_time: float | None = None) -> FaceSummary:
        return cls(
            confidence=face.confidence,
            width=face.width,
            height=face.height,
            left=face.left,
            top=face.top,
            brightness=face.brightness,
            sharpness=face.sharpness,
            frame_time=frame_time,
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
    alerted: bool = False  # reached MIN_DETECTIONS: its item exists and its alert is due
    band_tally: BandTally = BandTally()  # what its match band follows from (bands.py)
    paged: bool = True  # its alert paged (SMS); False: a possible incident's hint, so far
    # frame times (ms) counted, encoded (frame_set); items written before it count from empty
    frames: str = ""
    opened: int = 0  # the camera state's version when it opened: the earlier-opened survives
    # when face_events last published its "Incident Updated" (its clock; 0: never): kept on the
    # incident, so the commit written anyway throttles the updates (pipeline._due_updates)
    update_published_at: float = 0.0

    def band(self, min_detections: int) -> Band:
        return self.band_tally.band(min_detections)


class Merge(BaseModel):
    model_config = ConfigDict(frozen=True)
    incident_id: str
    merged_into: str
    alerted: bool


def watermark_key(stream_arn: str, shard_id: str) -> str:
    return f"{stream_arn}|{shard_id}"


class CameraState(BaseModel):
    """What face_events remembers about one camera (one DynamoDB item, optimistic version)."""

    model_config = ConfigDict(frozen=True)
    camera_id: str
    version: int = 0
    watermarks: dict[str, str] = Field(default_factory=dict)  # stream ARN|shard -> sequence
    incidents: tuple[IncidentState, ...] = ()
    unconfirmed: tuple[str, ...] = ()  # incidents with an alert or merge notice not yet settled
    merges: tuple[Merge, ...] = ()  # the latest absorbed incidents (what replay lists)
    # Frames at or before this time may belong to incidents no longer in the state.
    horizon: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """State items written before watermarks were keyed by stream: their shard-only marks
        are dropped (they could skip another stream's records; a redelivery they would have
        skipped is harmless now that frames count once per incident), and anything older than
        the oldest kept incident may have left the state."""
        if not isinstance(data, dict) or "horizon" in data:
            return data
        data = dict(data)
        data["watermarks"] = {k: v for k, v in data.get("watermarks", {}).items() if "|" in k}
        incidents = data.get("incidents") or ()
        firsts = [
            i.first_seen if isinstance(i, IncidentState) else float(i["first_seen"])
            for i in incidents
        ]
        data["horizon"] = min(firsts) if firsts else 0.0
        data.pop("recent_frames", None)
        return data


@dataclass(frozen=True, slots=True)
class Detection:
    """A frame of one camera with at least one unknown face (the best one of the frame)."""

    camera_id: str
    stream_arn: str
    frame_time: float
    frame_key: str
    shard_key: str  # watermark_key(source stream ARN, shard id)
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


def _combined(mine: BandTally, theirs: BandTally) -> BandTally:
    """Two incidents' tallies as one (a merge): frames add up, each employee's best stays."""
    best: dict[str, Candidate] = {}
    for candidate in (*mine.candidates, *theirs.candidates):
        known = best.get(candidate.employee_id)
        if known is None or candidate.similarity > known.similarity:
            best[candidate.employee_id] = candidate
    return BandTally(
        unknown_frames=mine.unknown_frames + theirs.unknown_frames,
        candidates=tuple(sorted(best.values(), key=lambda c: c.employee_id)),
    )


@dataclass(slots=True)
class GroupingResult:
    state: CameraState
    opened: list[IncidentState] = field(default_factory=list)
    newly_alerting: list[IncidentState] = field(default_factory=list)
    # incidents that already had an item and changed (extended, or survivors of a merge)
    extended_alerted: list[IncidentState] = field(default_factory=list)
    # absorbed incidents that had an item (alerted): (absorbed as last known, survivor id)
    absorbed: list[tuple[IncidentState, str]] = field(default_factory=list)
    # hinted possible incidents that turned unknown: alerted again, this time paged
    escalated: list[IncidentState] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
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
    mark = state.watermarks.get(detection.shard_key)
    return mark is not None and int(detection.sequence_number) <= int(mark)


def needs_recall(state: CameraState, detections: list[Detection], window: float) -> list[float]:
    """Frame times that may belong to an incident no longer in the state (look them up)."""
    if not state.horizon:
        return []
    return sorted(
        {d.frame_time for d in detections if d.frame_time - window <= state.horizon}
        - {d.frame_time for d in detections if _is_applied(state, d)}
    )


@dataclass(slots=True)
class _Draft:
    """An incident being changed inside one batch: plain fields, one model built at the end."""

    source: IncidentState
    first_seen: float
    last_seen: float
    detections: int
    best_score: float
    closest_similarity: float
    recalled: bool = False
    # faces as seen (converted once, in build); a merge brings the other's summaries
    best: ClassifiedFace | FaceSummary | None = None
    best_at: float | None = None  # the frame time of ``best``
    first: ClassifiedFace | FaceSummary | None = None
    closest: ClosestEmployee | ClosestMatch | None = None
    frames: set[int] | None = None  # decoded on first use
    touched: bool = False
    absorbed_by: _Draft | None = None
    first_frame_key: str = ""
    tally: BandTally = field(default_factory=BandTally)

    @classmethod
    def of(cls, incident: IncidentState, recalled: bool = False) -> _Draft:
        return cls(
            source=incident,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            detections=incident.detections,
            best_score=incident.best_face.score,
            closest_similarity=incident.closest.similarity if incident.closest else -1.0,
            recalled=recalled,
            first_frame_key=incident.first_frame_key,
            tally=incident.band_tally,
        )

    @property
    def frame_times(self) -> set[int]:
        if self.frames is None:
            self.frames = frame_set.decode(self.source.frames) if self.source.frames else set()
        return self.frames

    def covers(self, at: float, window: float) -> bool:
        return self.first_seen - window <= at <= self.last_seen + window

    def add(self, detection: Detection) -> bool:
        """Count the frame; False when it was counted already (a duplicate)."""
        ms = frame_set.frame_ms(detection.frame_time)
        times = self.frames if self.frames is not None else self.frame_times
        if ms in times:
            return False
        times.add(ms)
        at = detection.frame_time
        face = detection.face
        if at < self.first_seen:
            self.first_seen, self.first = at, face
        self.last_seen = max(self.last_seen, at)
        self.detections += 1
        score = face.width * face.height * face.confidence
        if score > self.best_score:
            self.best, self.best_score, self.best_at = face, score, at
        seen = detection.closest
        if seen is not None and seen.similarity > self.closest_similarity:
            self.closest, self.closest_similarity = seen, seen.similarity
        self.tally = detection.tallied(self.tally)
        self.touched = True
        return True

    def absorb(self, other: _Draft) -> None:
        mine, theirs = self.frame_times, other.frame_times
        self.detections += other.detections - len(mine & theirs)
        mine |= theirs
        if other.first_seen < self.first_seen:
            self.first_seen = other.first_seen
            self.first = other.first or other.source.first_face
        self.last_seen = max(self.last_seen, other.last_seen)
        if other.best_score > self.best_score:
            if other.best is not None:
                self.best, self.best_at = other.best, other.best_at
            else:
                self.best, self.best_at = other.source.best_face, other.source.best_face.frame_time
            self.best_score = other.best_score
        if other.closest_similarity > self.closest_similarity:
            self.closest = other.closest or other.source.closest
            self.closest_similarity = other.closest_similarity
        self.tally = _combined(self.tally, other.tally)
        other.absorbed_by = self
        self.touched = True

    def order(self) -> tuple[int, float, str]:
        return (self.source.opened, self.source.first_seen, self.source.incident_id)

    def build(self, min_detections: int, possible_action: PossibleAction) -> IncidentState:
        source = self.source
        update: dict[str, object] = {}
        if self.touched:
            update = {
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "detections": self.detections,
                "frames": frame_set.encode(self.frame_times),
                "band_tally": self.tally,
            }
            if self.best is not None:
                update["best_face"] = _summary(self.best, self.best_at)
            if self.first is not None:  # the first face is, by definition, at first_seen
                update["first_face"] = _summary(self.first, self.first_seen)
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


def _summary(face: ClassifiedFace | FaceSummary, frame_time: float | None) -> FaceSummary:
    if isinstance(face, FaceSummary):
        return (
            face
            if face.frame_time == frame_time
            else face.model_copy(update={"frame_time": frame_time})
        )
    return FaceSummary.of(face, frame_time)


def _open(detection: Detection, version: int) -> IncidentState:
    face = FaceSummary.of(detection.face, detection.frame_time)
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
        frames=frame_set.encode({frame_set.frame_ms(detection.frame_time)}),
        opened=version,
        band_tally=detection.tallied(BandTally()),
    )


def group(
    state: CameraState,
    detections: list[Detection],
    *,
    window_seconds: float,
    min_detections: int,
    recalled: list[IncidentState] | tuple[IncidentState, ...] = (),
    possible_action: PossibleAction = "hint",
) -> GroupingResult:
    """Apply a batch's detections of one camera to its state. Order of input does not matter.

    ``recalled``: incidents read back from the table for frames older than the state holds."""
    unapplied = [d for d in detections if not _is_applied(state, d)]
    result = GroupingResult(state=state, skipped=len(detections) - len(unapplied))
    if not unapplied:  # a redelivery: no write at all
        return result
    # An item found for an incident the state has not seen alert: it alerted in a commit whose
    # state write never landed (a crash between the chunks). Its alert is due, not new.
    stored = {i.incident_id for i in recalled if i.alerted}
    revived = {i.incident_id for i in state.incidents if i.incident_id in stored and not i.alerted}
    drafts = [
        _Draft.of(i.model_copy(update={"alerted": True}) if i.incident_id in revived else i)
        for i in state.incidents
    ]
    in_state = {i.incident_id for i in state.incidents}
    drafts += [_Draft.of(i, recalled=True) for i in recalled if i.incident_id not in in_state]
    version = state.version + 1
    fresh = _place(drafts, unapplied, window_seconds, version, result)
    result.applied = fresh
    if not fresh:  # duplicates only: nothing to write (a redelivery finds them duplicates again)
        return result
    before_alerted = {d.source.incident_id for d in drafts if d.source.alerted}
    built: list[IncidentState] = []
    for draft in drafts:
        if draft.absorbed_by is not None:
            continue
        incident = draft.build(min_detections, possible_action)
        built.append(incident)
        if incident.alerted and incident.incident_id not in before_alerted:
            result.newly_alerting.append(incident)
        elif draft.touched and incident.incident_id in before_alerted:
            result.extended_alerted.append(incident)
            if incident.paged and not draft.source.paged:
                result.escalated.append(incident)
    built_ids = {i.incident_id: i for i in built}
    _collect_merges(drafts, result)
    result.opened = [built_ids[i.incident_id] for i in result.opened if i.incident_id in built_ids]
    result.suppressed = fresh - len(result.newly_alerting)
    kept, horizon = _trim(built, state.horizon)
    result.state = state.model_copy(
        update={
            "version": version,
            "watermarks": _advanced(state.watermarks, unapplied),
            "incidents": kept,
            "unconfirmed": tuple(
                dict.fromkeys(
                    state.unconfirmed
                    + tuple(sorted(revived))
                    + tuple(i.incident_id for i in result.newly_alerting)
                    + tuple(i.incident_id for i, _ in result.absorbed)
                )
            ),
            "merges": (state.merges + tuple(result.merges))[-MAX_MERGES_IN_STATE:],
            "horizon": horizon,
        }
    )
    return result


def _place(
    drafts: list[_Draft],
    detections: list[Detection],
    window: float,
    version: int,
    result: GroupingResult,
) -> int:
    """Count each frame in its incident (opening, extending or bridging); returns how many
    frames were new."""
    fresh = 0
    for detection in sorted(detections, key=lambda d: (d.frame_time, d.frame_key)):
        at = detection.frame_time
        near = [
            d
            for d in drafts
            if d.first_seen - window <= at <= d.last_seen + window and d.absorbed_by is None
        ]
        if not near:
            opened = _open(detection, version)
            if opened.incident_id in {d.source.incident_id for d in drafts}:
                result.skipped += 1  # the first frame of an incident seen before, again
                continue
            drafts.append(_Draft.of(opened))
            drafts[-1].touched = True
            result.opened.append(opened)
            fresh += 1
            continue
        near.sort(key=_Draft.order)
        survivor = near[0]
        if not survivor.add(detection):
            result.skipped += 1
            continue
        fresh += 1
        for other in near[1:]:
            survivor.absorb(other)
    return fresh


def _collect_merges(drafts: list[_Draft], result: GroupingResult) -> None:
    for draft in drafts:
        target = draft.absorbed_by
        if target is None:
            continue
        while target.absorbed_by is not None:
            target = target.absorbed_by
        survivor_id = target.source.incident_id
        merge = Merge(
            incident_id=draft.source.incident_id,
            merged_into=survivor_id,
            alerted=draft.source.alerted,
        )
        result.merges.append(merge)
        if draft.source.alerted:
            result.absorbed.append((draft.source, survivor_id))


def _advanced(watermarks: dict[str, str], detections: list[Detection]) -> dict[str, str]:
    marks = dict(watermarks)
    for detection in detections:
        mark = marks.get(detection.shard_key)
        if mark is None or int(detection.sequence_number) > int(mark):
            marks[detection.shard_key] = detection.sequence_number
    return marks


def _trim(
    incidents: list[IncidentState], horizon: float
) -> tuple[tuple[IncidentState, ...], float]:
    newest = max(i.last_seen for i in incidents)
    ordered = sorted(incidents, key=lambda i: i.last_seen)
    kept = [i for i in ordered if i.last_seen >= newest - STATE_HORIZON_SECONDS]
    kept = kept[-MAX_INCIDENTS_IN_STATE:]
    kept_ids = {i.incident_id for i in kept}
    for incident in ordered:
        if incident.incident_id not in kept_ids:
            horizon = max(horizon, incident.last_seen)
    return tuple(kept), horizon
