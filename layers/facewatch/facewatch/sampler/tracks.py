"""Face tracks across analysed frames: who a face is, decided once, carried while it persists.

A track is one person's face from DetectFaces result to DetectFaces result. A new face is
associated with the track of a like size whose predicted box (last box moved by its velocity)
it overlaps most (IoU), else the nearest within reach, otherwise it starts a track. A track is
**searched** (SearchFacesByImage):

- when its face is first good enough: at least ``min_pixels``, |yaw| <= ``max_yaw``,
  sharpness >= ``min_sharpness`` (a turned or blurred employee matches below the threshold and
  would be reported as a stranger);
- when it was never good enough for ``unsure_after`` analysed frames (searched as it is);
- again when the first search was unsure: made on a poor face, or its best match fell in the
  possible band (``floor`` <= similarity < threshold), at most ``max_searches`` times;
- again when it was lost and found: re-acquired after ``reacquire_ms`` unseen (a face in an
  employee's place may be someone else), or after overlapping another track (crossing people
  may swap tracks: both are searched again once they are apart);
- again when another reading of the frame fits as well (``_doubt``: two faces where one track
  was, or a face another recent track could be).

Otherwise a track's face is reported with the matches of its last search, so the employee at a
desk is searched once a day, not once a second, and a stranger's frames still reach face_events.
A face whose track is not searched yet, or is ambiguous (crossed another, or lost and found)
and not searched again yet, is left out of its frame's record (as an unsearchable face is):
reporting it with no match would make a turned employee an "unknown face", and with its old
matches could give a stranger an employee's name after a crossing.

Pure: no AWS, no clock (times are passed in, in ms).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

Box = tuple[float, float, float, float]  # left, top, width, height (ratios of the frame)
WALKING_SPEED = 0.01  # ratios of the frame a second
# Velocity says where a face went between looks up to this far apart (a walking employee is
# looked at every few seconds), not beyond: older, it is reset.
VELOCITY_SECONDS = 8.0


def iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def person_region(box: Box) -> Box:
    """Where a face's person is: the face box widened, down to the bottom of the frame."""
    left, top, w, h = box
    return (left - w, top - 0.5 * h, 3 * w, 1.0 - top + 0.5 * h)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def mostly_inside(a: Box, b: Box, share: float = 0.7) -> bool:
    """Whether at least ``share`` of box a's area is inside box b."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w > 0 and h > 0 and w * h >= share * a[2] * a[3]


@dataclass(frozen=True, slots=True)
class SeenFace:
    """A face as DetectFaces reported it, reduced to what tracking needs."""

    box: Box
    pixels: float  # the smaller side of the box, in frame pixels
    yaw: float = 0.0
    sharpness: float = 100.0


@dataclass(slots=True)
class Track:
    track_id: int
    box: Box
    first_ms: int
    seen_ms: int
    velocity: tuple[float, float] = (0.0, 0.0)  # ratios of the frame a second
    matches: list[dict[str, Any]] | None = None  # FaceMatches of the last search; None: never
    similarity: float = 0.0  # best match of the last search (0: none)
    sure: bool = False  # the last search was made on a good face, outside the possible band
    searches: int = 0
    reported: int = 0  # analysed frames in whose record the face was
    unsearched_frames: int = 0
    ambiguous: bool = False  # overlapped another track since its last search
    failures: int = 0  # searches Rekognition refused (no face in the crop)
    detections: int = 1  # analysed frames in which its face was found
    moved_ms: int = 0  # last time motion was seen in its region

    recognised: bool = False  # the last search's best match reached the threshold

    @property
    def known(self) -> bool:
        return self.matches is not None and self.sure and self.recognised

    @property
    def unknown(self) -> bool:
        """Searched, and no employee at or above the threshold (a stranger, or a possible)."""
        return self.matches is not None and not self.recognised

    @property
    def settled(self) -> bool:
        """Seen twice at least: its velocity (walking or still) is known."""
        return self.detections >= 2

    @property
    def walking(self) -> bool:
        """Moving across the frame (a seated person's sway is not)."""
        return math.hypot(*self.velocity) > WALKING_SPEED

    @property
    def reportable(self) -> bool:
        """Its face goes into records: searched, and not possibly someone else since (crossed
        or lost and found: until searched again, the matches may be the other person's)."""
        return self.matches is not None and not self.ambiguous

    @property
    def at_desk(self) -> bool:
        """A known employee keeping still (at a desk): their motion is theirs."""
        return self.known and self.settled and not self.walking

    def predicted(self, at_ms: int) -> Box:
        dt = min(VELOCITY_SECONDS, (at_ms - self.seen_ms) / 1000.0)
        left, top, w, h = self.box
        return (left + self.velocity[0] * dt, top + self.velocity[1] * dt, w, h)


@dataclass(frozen=True, slots=True)
class TrackRules:
    threshold: float = 80.0  # FACE_MATCH_THRESHOLD: known at or above
    floor: float = 70.0  # the possible band starts here (the search's FaceMatchThreshold)
    min_pixels: float = 40.0
    max_yaw: float = 35.0
    min_sharpness: float = 50.0
    unsure_after: int = 3
    max_searches: int = 3
    min_iou: float = 0.15
    crowded_iou: float = 0.2  # a face behind another overlaps less: searched as it is
    reacquire_ms: int = 10_000
    still_reacquire_ms: int = 900_000
    # Motion in a track's person region is put down to it this long after its face was seen:
    # a walking employee is looked at every ``moving_known_ms``, and their motion between looks
    # is theirs (a stranger behind them is found by the next look, or by the walk-by rate).
    explain_ms: int = 7_000
    lost_ms: int = 8_000  # a track not seen this long is dropped ...
    known_lost_ms: int = 1_500_000  # ... a still employee at a desk this long (> verification)
    cell: tuple[float, float] = (1 / 64, 1 / 36)  # the motion gate's cell (ratios of the frame)


@dataclass(frozen=True, slots=True)
class Assignment:
    face: SeenFace
    track: Track
    search: bool  # search this face now (then ``searched`` records the result)


@dataclass(slots=True)
class Tracker:
    rules: TrackRules = field(default_factory=TrackRules)
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1
    last_ms: int | None = None  # the last analysed frame

    def good(self, face: SeenFace) -> bool:
        rules = self.rules
        return (
            face.pixels >= rules.min_pixels
            and abs(face.yaw) <= rules.max_yaw
            and face.sharpness >= rules.min_sharpness
        )

    def update(self, at_ms: int, faces: list[SeenFace]) -> list[Assignment]:
        """Associates the faces of an analysed frame with tracks and says which to search."""
        pairs = sorted(
            (
                (_overlap(face, track, at_ms), fi, ti)
                for fi, face in enumerate(faces)
                for ti, track in enumerate(self.tracks)
                if _like_size(face, track)
            ),
            reverse=True,
        )
        face_track: dict[int, Track] = {}
        taken: set[int] = set()
        for overlap, fi, ti in pairs:
            if overlap < self.rules.min_iou:
                break
            if fi in face_track or ti in taken:
                continue
            face_track[fi] = self.tracks[ti]
            taken.add(ti)
        # Frames seconds apart: a walking face has left its box. The nearest track of a like
        # size within reach (a face width a second) is taken, nearest first.
        near = sorted(
            (_distance(face.box, track.predicted(at_ms)), fi, ti)
            for fi, face in enumerate(faces)
            for ti, track in enumerate(self.tracks)
            if fi not in face_track and ti not in taken and _reachable(face, track, at_ms)
        )
        for _, fi, ti in near:
            if fi in face_track or ti in taken:
                continue
            face_track[fi] = self.tracks[ti]
            taken.add(ti)
        self._doubt(at_ms, faces, face_track)
        current = []
        for fi, face in enumerate(faces):
            track = face_track.get(fi)
            if track is None:
                track = Track(self.next_id, face.box, first_ms=at_ms, seen_ms=at_ms)
                self.next_id += 1
                self.tracks.append(track)
            else:
                self._follow(track, face, at_ms)
            current.append(track)
        crowded = self._mark_overlaps(at_ms, current)
        self._drop(at_ms)
        self.last_ms = at_ms
        return [
            Assignment(face, track, id(track) not in crowded and self._needs_search(track, face))
            for face, track in zip(faces, current, strict=True)
        ]

    def refused(self, track: Track) -> None:
        """Rekognition found no face in the track's crop: tried again, a few times at most."""
        track.failures += 1

    def searched(self, track: Track, face: SeenFace, matches: list[dict[str, Any]]) -> None:
        best = max((float(m.get("Similarity", 0.0)) for m in matches), default=0.0)
        track.similarity = best
        track.searches += 1
        track.ambiguous = False
        possible = self.rules.floor <= best < self.rules.threshold
        track.sure = self.good(face) and not possible
        track.recognised = best >= self.rules.threshold
        # As the search returned them (down to the floor): face_events decides the band.
        track.matches = list(matches)

    def explains(self, track: Track, at_ms: int) -> bool:
        """Whether motion in the track's person region may be put down to it: a known person
        keeping still (at a desk) does, for as long as the track lives; any other track only
        while its face was seen in the last seconds (else it may have left, and the motion be
        someone else's)."""
        if track.at_desk:
            return True
        return at_ms - track.seen_ms <= self.rules.explain_ms

    def interesting(self, at_ms: int, regions: list[Box]) -> list[Box]:
        """The motion regions worth a look: all but those of known people keeping still (an
        employee at a desk: their motion is theirs)."""
        return [
            region
            for region in regions
            if not any(t.at_desk and self._owns(t, region, at_ms) for t in self.tracks)
        ]

    def moved(self, at_ms: int, regions: list[Box]) -> list[Box]:
        """Marks the tracks whose person region has motion; returns the regions no track
        explains (someone the tracks do not know about)."""
        unexplained = []
        for region in regions:
            owners = [
                t for t in self.tracks if self.explains(t, at_ms) and self._owns(t, region, at_ms)
            ]
            for track in owners:
                track.moved_ms = at_ms
            if not owners:
                unexplained.append(region)
        return unexplained

    # ---- internals --------------------------------------------------------------------------

    def _doubt(self, at_ms: int, faces: list[SeenFace], face_track: dict[int, Track]) -> None:
        """Marks ambiguous (searched again before its matches are reported) a track whose
        association another reading of this frame explains as well: a track seen in the last
        analysed frame that more than one face could be (someone hidden behind them came into
        view; two people side by side, seen seconds apart), or a track given a face that
        another such track could be (one person turned away or left, the other took their
        place). Tracks not in the last analysed frame are no other reading: not looked at (a
        mosaic covers where motion was), or lost (taken only when nothing else fits)."""
        could = [
            [
                track.seen_ms == self.last_ms and self._could_be(face, track, at_ms)
                for track in self.tracks
            ]
            for face in faces
        ]
        for ti, track in enumerate(self.tracks):
            if track.matches is not None and sum(row[ti] for row in could) > 1:
                track.ambiguous = True
        for fi, mine in face_track.items():
            others = any(c for c, t in zip(could[fi], self.tracks, strict=True) if t is not mine)
            if mine.matches is not None and others:
                mine.ambiguous = True

    def _could_be(self, face: SeenFace, track: Track, at_ms: int) -> bool:
        """Whether the face may be the track's person: of a like size (a face's size changes
        little between looks: a smaller face behind a larger one is someone else) and where
        the track could have gone."""
        return _like_size(face, track) and (
            _overlap(face, track, at_ms) >= self.rules.min_iou or _reachable(face, track, at_ms)
        )

    def _owns(self, track: Track, region: Box, at_ms: int) -> bool:
        """Whether motion in ``region`` may be the track's: in its person region; for someone
        keeping still (at a desk), mostly inside it (someone walking in past them makes motion
        that reaches beyond it, and is looked at at once)."""
        # Motion regions are whole gate cells: the person region is taken to the cells it
        # touches (a seated person's sway at the frame's edge is in the edge column).
        left, top, w, h = person_region(track.predicted(at_ms))
        cw, ch = self.rules.cell
        person = (left - cw, top - ch, w + 2 * cw, h + 2 * ch)
        return mostly_inside(region, person) if track.at_desk else overlaps(region, person)

    def _follow(self, track: Track, face: SeenFace, at_ms: int) -> None:
        dt = (at_ms - track.seen_ms) / 1000.0
        unseen = at_ms - track.seen_ms
        # Lost and found: it may be someone else now. An employee keeping still at a desk,
        # found again in the same place, is taken as the same person for longer.
        same_place = track.known and not track.walking and iou(face.box, track.box) >= 0.5
        limit = self.rules.still_reacquire_ms if same_place else self.rules.reacquire_ms
        if track.matches is not None and unseen > limit:
            track.ambiguous = True
        if 0 < dt <= VELOCITY_SECONDS:
            vx = (face.box[0] - track.box[0]) / dt
            vy = (face.box[1] - track.box[1]) / dt
            track.velocity = (
                0.5 * track.velocity[0] + 0.5 * vx,
                0.5 * track.velocity[1] + 0.5 * vy,
            )
        else:
            track.velocity = (0.0, 0.0)
        track.box = face.box
        track.seen_ms = at_ms
        track.detections += 1

    def _needs_search(self, track: Track, face: SeenFace) -> bool:
        rules = self.rules
        good = self.good(face)
        if face.pixels < rules.min_pixels or track.failures >= rules.max_searches:
            return False  # Rekognition cannot search it (counted)
        if track.matches is None:
            track.unsearched_frames += 1
            return good or track.unsearched_frames >= rules.unsure_after
        if track.ambiguous:
            return good
        return not track.sure and good and track.searches < rules.max_searches

    def _mark_overlaps(self, at_ms: int, current: list[Track]) -> set[int]:
        """Faces of this frame that overlap much (IoU > ``crowded_iou``: people crossing) may
        swap tracks: both are searched again once they are apart, not while crowded (a crop
        then holds both faces). A track not seen now whose box a seen face took over is that
        face's stale double (its person was found again as a new track): dropped. Returns the
        ids of the crowded tracks."""
        stale = [
            old
            for old in self.tracks
            if old.seen_ms != at_ms and any(iou(old.box, new.box) > 0.3 for new in current)
        ]
        for new in current:
            # A face behind another is not found at all: the face that took the hidden one's
            # place may be either person (crossing: tracks swap). Searched again.
            if any(old.matches is not None and iou(old.box, new.box) > 0.3 for old in stale):
                new.ambiguous = True
        self.tracks = [t for t in self.tracks if all(t is not old for old in stale)]
        crowded: set[int] = set()
        for i, a in enumerate(current):
            for b in current[i + 1 :]:
                if iou(a.box, b.box) > self.rules.crowded_iou:
                    a.ambiguous = b.ambiguous = True
                    crowded |= {id(a), id(b)}
        return crowded

    def _drop(self, at_ms: int) -> None:
        def alive(track: Track) -> bool:
            still = track.known and not track.walking
            limit = self.rules.known_lost_ms if still else self.rules.lost_ms
            left, top, w, h = track.predicted(at_ms)
            inside = 0.0 <= left + w / 2 <= 1.0 and 0.0 <= top + h / 2 <= 1.0
            return at_ms - track.seen_ms <= limit and inside

        self.tracks = [t for t in self.tracks if alive(t)]

    def expire(self, at_ms: int) -> None:
        """Drops tracks lost by ``at_ms`` (called between analyses too)."""
        self._drop(at_ms)

    # ---- persistence (the checkpoint's ``tracks``) ---------------------------------------------

    def dumps(self) -> str:
        return json.dumps(
            {
                "next": self.next_id,
                "last": self.last_ms,
                "tracks": [asdict(t) for t in self.tracks],
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str | None, rules: TrackRules) -> Tracker:
        if not text:
            return cls(rules)
        document = json.loads(text)
        tracks = []
        for raw in document.get("tracks", []):
            raw["box"] = tuple(raw["box"])
            raw["velocity"] = tuple(raw["velocity"])
            tracks.append(Track(**raw))
        last = document.get("last")
        return cls(rules, tracks, int(document.get("next", 1)), None if last is None else int(last))


def _overlap(face: SeenFace, track: Track, at_ms: int) -> float:
    """How much a face overlaps where its track is now: the predicted box of someone walking
    (their last box may be another's by now, when people cross between looks), else the better
    of the predicted and the last box (a seated person's sway is not a velocity)."""
    predicted = iou(face.box, track.predicted(at_ms))
    return predicted if track.walking else max(predicted, iou(face.box, track.box))


def _distance(a: Box, b: Box) -> float:
    return math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)


def _like_size(face: SeenFace, track: Track) -> bool:
    """A face's size changes little between looks: one much smaller or larger than the track's
    is someone else (a smaller face behind, a person nearer the camera)."""
    return 0.7 <= face.box[3] / max(track.box[3], 1e-6) <= 1.4


def _reachable(face: SeenFace, track: Track, at_ms: int) -> bool:
    """Within a face width a second of where the track was, and of a like size."""
    seconds = max(0.5, min(VELOCITY_SECONDS, (at_ms - track.seen_ms) / 1000.0))
    reach = max(face.box[2], track.box[2]) * seconds
    return _like_size(face, track) and _distance(face.box, track.predicted(at_ms)) <= reach


@dataclass(frozen=True, slots=True)
class RateRules:
    """How soon the next frame is analysed, by what the tracks need (ms)."""

    new_ms: int = 500  # a track not yet searched, unsure, or unknown with few records
    # Motion like a person's, no face found yet: looked at again this soon (each look is a
    # mosaic of every frame since the last, so a face shown for 2 s in between is found).
    faceless_ms: int = 3_000
    # An established stranger: keep its incident's frames coming (a look every 5 s keeps a
    # visit in one incident: INCIDENT_WINDOW_SECONDS is far longer).
    unknown_ms: int = 5_000
    moving_known_ms: int = 6_000  # a known employee walking: someone may be behind them
    still_known_ms: int = 600_000  # every track known and still: verify now and then
    unknown_records: int = 2  # records before an unknown track is established (MIN_DETECTIONS)
    faceless_ms_max: int = 10_000  # motion without a face is re-checked this long
    faceless_quiet_ms: int = 2_000  # faceless motion has ended after this long without any
    # Walk-by suppression: after this many looks found no face (someone walking by, turned
    # away), faceless motion is looked at every ``faceless_slow_ms``; each look is a mosaic of
    # every frame since the last one, so a face shown in between is still found.
    faceless_fast_looks: int = 2
    faceless_slow_ms: int = 5_000

    def faceless_wait_ms(self, looks: int) -> int:
        """How long after the last look faceless motion is looked at again."""
        return self.faceless_ms if looks < self.faceless_fast_looks else self.faceless_slow_ms


def next_analysis_ms(
    tracker: Tracker, last_ms: int, now_ms: int, faceless_since: int | None, rules: RateRules
) -> int | None:
    """The earliest time the next analysis is due (None: none needed until motion).

    A track absent from the last analysed frame (``last_ms``) with no motion in its person
    region since is not due: the same picture would show the same (it left, or keeps still
    turned away). Motion there makes it due at the faceless rate (someone moving whose face was
    not found), or, unexplained, brings a look through the gate."""
    due: list[int] = []
    for track in tracker.tracks:
        if track.seen_ms < last_ms and not track.at_desk:
            if track.moved_ms > last_ms:  # moving, face not found: like faceless motion
                due.append(last_ms + rules.faceless_ms)
            continue
        if (
            track.matches is None
            or track.ambiguous
            or (not track.sure and track.searches < tracker.rules.max_searches)
            # Just recognised: once more soon, for someone who came in right behind them (their
            # motion is in this track's region: only a look finds them).
            or (track.known and not track.settled)
        ):
            due.append(last_ms + rules.new_ms)
        elif track.unknown:
            fresh = track.reported < rules.unknown_records
            due.append(last_ms + (rules.new_ms if fresh else rules.unknown_ms))
        elif track.walking:
            due.append(last_ms + rules.moving_known_ms)
        else:
            due.append(last_ms + rules.still_known_ms)
    if faceless_since is not None and now_ms - faceless_since <= rules.faceless_ms_max:
        due.append(last_ms + rules.faceless_ms)
    return min(due) if due else None
