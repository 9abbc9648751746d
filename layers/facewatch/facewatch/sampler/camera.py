"""One camera's work in an invocation: cycles of read, gate, analyse, write, checkpoint.

A cycle reads the frames after the checkpoint (GetImages at low resolution), and for each frame,
oldest first:
- NO_MEDIA or MEDIA_ERROR: counted as a gap;
- unchanged since the last analysed frame (motion gate) and no face present: skipped;
- changed (or a face was present at the last analysis, re-checked every presence interval),
  and at most ``max_analysis_fps``: the full-resolution frame is fetched, its faces found and
  searched, its record written, the checkpoint saved.
NO_MEDIA at the live edge is not consumed until ``media_wait_seconds`` old (fragments arrive
late); older than ``max_lag_seconds`` is skipped and reported as a gap. Under Rekognition
throttling the camera backs off and changed frames met meanwhile are dropped (and counted), so
the newest frames are analysed when throughput returns.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.detections.records import FaceSearchEntry
from facewatch.sampler import mosaic
from facewatch.sampler.checkpoint import Checkpoint, CheckpointStore
from facewatch.sampler.clock import HealthPublisher, clock_event, measured_skew_ms, skew_off
from facewatch.sampler.faces import (
    DetectedFrame,
    FaceSearcher,
    RekognitionThrottledError,
    decode,
    entry,
)
from facewatch.sampler.frames import (
    CameraUnavailableError,
    Frame,
    KvsFrames,
    StreamRef,
    VideoThrottledError,
)
from facewatch.sampler.looks import Box, LookState
from facewatch.sampler.motion import MotionGate, UndecodableFrameError, person_regions
from facewatch.sampler.recordwriter import RecordWriter, build_record, encode_record
from facewatch.sampler.settings import SamplerSettings
from facewatch.sampler.tracks import RateRules, SeenFace, Tracker, TrackRules, next_analysis_ms

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


def to_ms(seconds: float) -> int:
    return math.floor(seconds * 1000.0)


@dataclass(slots=True)
class SamplerDeps:
    frames: KvsFrames
    searcher: FaceSearcher
    writer: RecordWriter
    store: CheckpointStore
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    health: HealthPublisher | None = None  # None: clock changes are counted, not published


@dataclass(slots=True)
class CameraCounts:
    """Counters of one camera in one invocation (summed into the run report and metrics)."""

    frames_seen: int = 0
    frames_unchanged: int = 0
    frames_rate_limited: int = 0
    frames_analysed: int = 0  # frames a record was written for (a mosaic covers several)
    analysed_for_motion: int = 0  # looks (DetectFaces calls) for motion no track explains
    analysed_for_tracks: int = 0  # looks at a track's rate (new, unknown, walking, verification)
    frames_not_analysed: int = 0  # needed analysis, dropped under throttling
    no_media: int = 0
    media_errors: int = 0
    detect_calls: int = 0
    search_calls: int = 0
    faces: int = 0
    faces_ignored: int = 0
    faces_too_small: int = 0  # under SAMPLER_MIN_FACE_PIXELS: still unsearchable, not reported
    faces_unsearchable: int = 0
    faces_held: int = 0  # track not searched (again) yet: turned, blurred or crossed; left out
    mosaics: int = 0  # DetectFaces calls on a mosaic of several frames' regions
    mosaic_tiles: int = 0
    tiles_dropped: int = 0  # regions that did not fit a mosaic (the oldest): not analysed
    faces_cut: int = 0  # faces a tile's cut edge cut: left out (the next look sees them whole)
    span_dropped: int = 0  # noted frames older than a look can hold: not analysed
    records_written: int = 0
    records_lost: int = 0
    rekognition_throttled: int = 0
    video_throttled: int = 0
    cycle_errors: int = 0
    gap_seconds: float = 0.0
    clock_events: int = 0  # Camera Health Changed events for the producer clock
    clock_skew_ms: int = 0  # the last measured skew (not summed: the report takes the largest)
    # (frame time, time the record was in the stream), ms: the latency the sampler adds.
    written_at: list[tuple[int, int]] = field(default_factory=list)


class CameraSampler:
    def __init__(self, camera_id: str, settings: SamplerSettings, deps: SamplerDeps) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.deps = deps
        self.counts = CameraCounts()
        self.checkpoint: Checkpoint | None = None  # None: this invocation does not hold the lease
        self.unavailable: str | None = None
        self.lease_lost = False
        self.stream: StreamRef | None = None
        self.gate = MotionGate(
            settings.gate_grid, settings.motion_pixel_delta, settings.motion_area
        )
        self.backoff_until = 0.0
        self._throttle_level = 0
        self._saved_at = 0.0
        self._lease_until_ms = 0
        self.pending_at_close = 0
        self.track_rules = TrackRules(
            threshold=settings.face_match_threshold,
            floor=min(settings.possible_match_floor, settings.face_match_threshold),
            min_pixels=settings.min_face_pixels,
            cell=(1 / settings.gate_grid[0], 1 / settings.gate_grid[1]),
        )
        self.rate_rules = RateRules()
        self.tracker = Tracker(self.track_rules)
        self.looks = LookState()

    @property
    def owned(self) -> bool:
        return self.checkpoint is not None

    @property
    def pending(self) -> int:
        return len(self.checkpoint.pending) if self.checkpoint else 0

    def try_acquire(self, lease_until_ms: int) -> bool:
        now = self.deps.clock.now()
        try:
            checkpoint = self.deps.store.acquire(self.camera_id, to_ms(now), lease_until_ms)
        except (ClientError, BotoCoreError):  # DynamoDB trouble: try again next tick
            self.counts.cycle_errors += 1
            logger.warning("lease not taken", exc_info=True, extra={"camera": self.camera_id})
            return False
        if checkpoint is None:
            return False
        self.checkpoint = checkpoint
        self.gate.reference = checkpoint.gate_ref
        self.tracker = Tracker.loads(checkpoint.tracks, self.track_rules)
        self.looks = LookState.loads(checkpoint.looks)
        self._lease_until_ms = lease_until_ms
        self._saved_at = now
        return True

    def cycle(self, deadline: float) -> None:
        """One cycle; never raises (a failure is counted and the next cycle starts again)."""
        if self.checkpoint is None or self.unavailable:
            return
        try:
            self._cycle(self.checkpoint, deadline)
            due = self._saved_at + self.settings.checkpoint_every_seconds
            if self.checkpoint and self.deps.clock.now() >= due:
                self._save()
        except CameraUnavailableError as exc:
            self.unavailable = str(exc)
            self.deps.frames.forget(self.camera_id)
        except VideoThrottledError:
            self.counts.video_throttled += 1
        except Exception:  # one camera's bug must not stop the group
            self.counts.cycle_errors += 1
            # The traceback names code and error types, never frame bytes or face data.
            logger.exception("sampler cycle failed", extra={"camera": self.camera_id})

    def close(self) -> None:
        """Saves the checkpoint and hands the camera over (releases the lease)."""
        if self.checkpoint is None:
            return
        self.pending_at_close = len(self.checkpoint.pending)
        try:
            self._save(release=True)
        except (ClientError, BotoCoreError):
            # Not saved: the lease expires by itself and the next invocation redoes the frames
            # since the last save (gated frames cost nothing; written records were saved).
            self.counts.cycle_errors += 1
            logger.warning("checkpoint not saved", exc_info=True, extra={"camera": self.camera_id})
        self.checkpoint = None

    # ---- the cycle --------------------------------------------------------------------------

    def _cycle(self, checkpoint: Checkpoint, deadline: float) -> None:
        settings, clock = self.settings, self.deps.clock
        if checkpoint.pending:
            self._flush(checkpoint)
            if self.checkpoint is None:
                return
        if self.stream is None:
            self.stream = self.deps.frames.stream(self.camera_id)
        now_ms = self._producer_now(checkpoint)
        interval = settings.interval_ms
        if checkpoint.last_frame_ms is None:  # first run for this camera: start near live
            start = now_ms - to_ms(settings.media_wait_seconds)
        else:
            start = checkpoint.last_frame_ms + interval
        floor = now_ms - to_ms(settings.max_lag_seconds)
        if start < floor:  # too far behind to be useful: skip to recent video, report the gap
            self.counts.gap_seconds += (floor - start) / 1000.0
            start = floor
            checkpoint.last_frame_ms = floor - interval
        end = min(now_ms, start + to_ms(settings.max_window_seconds))
        if end < start:
            return
        frames = self.deps.frames.frames(
            self.stream,
            start_ms=start,
            end_ms=end,
            interval_ms=interval,
            size=(settings.gate_width, settings.gate_height),
            quality=settings.jpeg_quality,
            limit=(end - start) // interval + 1,
        )
        settled = now_ms - to_ms(settings.media_wait_seconds)
        final = [f.time_ms for f in frames if f.error != "NO_MEDIA"]
        cut = max([settled, *final])
        for frame in frames:
            if frame.time_ms > cut or clock.now() >= deadline:
                return
            self._frame(checkpoint, frame)
            if self.checkpoint is None:  # lease lost while saving: the camera is not ours
                return
            checkpoint.last_frame_ms = frame.time_ms
        if end <= settled and clock.now() < deadline:
            # Nothing more can arrive for this window: no images at all is an offline camera.
            if not frames:
                self.counts.gap_seconds += (end - start) / 1000.0
            checkpoint.last_frame_ms = max(checkpoint.last_frame_ms or end, end)

    def _frame(self, checkpoint: Checkpoint, frame: Frame) -> None:
        counts, settings = self.counts, self.settings
        if frame.jpeg is None:
            if frame.error == "NO_MEDIA":
                counts.no_media += 1
            else:
                counts.media_errors += 1
            counts.gap_seconds += settings.interval_ms / 1000.0
            return
        counts.frames_seen += 1
        try:
            sig = self.gate.signature(frame.jpeg)
        except UndecodableFrameError:
            counts.media_errors += 1
            return
        at = frame.time_ms
        regions = person_regions(sig, checkpoint.gate_ref, self.gate.grid, self.gate.pixel_delta)
        checkpoint.gate_ref = self.gate.reference = sig  # motion is change since the last frame
        tracker, rates, looks = self.tracker, self.rate_rules, self.looks
        tracker.expire(at)
        unexplained = tracker.moved(at, regions)
        looks.motion(at, bool(unexplained), rates.faceless_quiet_ms)
        if settings.mosaics:
            looks.note(at, tracker.interesting(at, regions))
        last = checkpoint.last_analysed_ms
        first_sight = bool(unexplained) and looks.faceless_since is None
        if unexplained:  # someone the tracks do not know: now, then while faceless, slower
            wait = 0 if first_sight else rates.faceless_wait_ms(looks.faceless_looks)
            wanted = last is None or at - last >= wait
        else:
            due = next_analysis_ms(tracker, last or at, at, None, rates)
            wanted = due is not None and at >= due
        if not wanted:
            counts.frames_unchanged += 1
            return
        if last is not None and at - last < settings.analysis_interval_ms:
            counts.frames_rate_limited += 1
            return
        if self.deps.clock.now() < self.backoff_until:
            counts.frames_not_analysed += 1
            return
        self._look(checkpoint, frame, bool(unexplained), whole=first_sight)

    def _look(self, checkpoint: Checkpoint, frame: Frame, for_motion: bool, whole: bool) -> None:
        """One DetectFaces call: on the whole frame (someone new in view, or nothing noted since
        the last look), else on a mosaic of the regions noted in every frame since the last
        look; then a record for every frame it covered, oldest first."""
        counts, tracker = self.counts, self.tracker
        assert self.stream is not None  # set at the start of the cycle
        span = self.looks.span
        earlier = any(t < frame.time_ms for t, _ in span)
        before = tracker.next_id
        try:
            if whole or not earlier or not self.settings.mosaics:
                looked = self._whole(frame)
            else:
                looked = self._mosaic(checkpoint, frame, span)
            if looked is None:
                counts.media_errors += 1
                return
            self.looks.take()
            counts.detect_calls += 1
            results = [(t, d, self._tracked_faces(d, t)) for t, d in looked]
        except VideoThrottledError:
            counts.video_throttled += 1
            counts.frames_not_analysed += 1
            return
        except RekognitionThrottledError:
            counts.rekognition_throttled += 1
            counts.frames_not_analysed += 1
            self._back_off()
            return
        except UndecodableFrameError:
            counts.media_errors += 1
            return
        if tracker.next_id != before:
            self.looks.face_found()
        elif for_motion:
            self.looks.faceless(frame.time_ms)
        self._throttle_level = 0
        if for_motion:
            counts.analysed_for_motion += 1
        else:
            counts.analysed_for_tracks += 1
        self._write(checkpoint, frame.time_ms, results)

    def _write(
        self,
        checkpoint: Checkpoint,
        at_ms: int,
        results: list[tuple[int, DetectedFrame, list[FaceSearchEntry]]],
    ) -> None:
        """The look's records, oldest first, then the checkpoint that covers them."""
        assert self.stream is not None
        counts, tracker = self.counts, self.tracker
        payloads = []
        for time_ms, detected, entries in results:
            counts.frames_analysed += 1
            counts.faces += len(entries)
            counts.faces_ignored += detected.ignored
            counts.faces_too_small += detected.too_small
            payloads.append(
                (time_ms, encode_record(build_record(self.stream.arn, time_ms, entries)))
            )
        newest = results[-1] if results else None
        checkpoint.last_analysed_ms = at_ms
        checkpoint.last_faces_ms = at_ms if newest and newest[0] == at_ms and newest[2] else None
        checkpoint.tracks = tracker.dumps()
        checkpoint.last_frame_ms = at_ms
        written = self.deps.writer.put(self.camera_id, [p for _, p in payloads]) if payloads else []
        for (time_ms, payload), ok in zip(payloads, written, strict=True):
            if ok:
                counts.records_written += 1
                true_ms = time_ms + checkpoint.clock_skew_ms  # the frame time by our clock
                counts.written_at.append((true_ms, to_ms(self.deps.clock.now())))
            else:
                self._queue(checkpoint, payload)
        # Every record in the stream is covered by a saved checkpoint: no frame twice.
        self._save()

    def _whole(self, frame: Frame) -> list[tuple[int, DetectedFrame]] | None:
        assert self.stream is not None
        settings = self.settings
        full = self.deps.frames.frame_at(
            self.stream, frame.time_ms, settings.interval_ms, settings.jpeg_quality
        )
        if full is None or full.jpeg is None:
            return None
        return [(frame.time_ms, self.deps.searcher.detect(full.jpeg))]

    def _mosaic(
        self, checkpoint: Checkpoint, frame: Frame, span: list[tuple[int, list[Box]]]
    ) -> list[tuple[int, DetectedFrame]] | None:
        """The noted regions of the span's frames, and where the tracks being followed are in
        this one, cropped from the full-resolution frames (one GetImages for the range) into one
        mosaic for one DetectFaces."""
        assert self.stream is not None
        settings, counts, tracker = self.settings, self.counts, self.tracker
        at = frame.time_ms
        start = min(t for t, _ in span)
        interval = settings.interval_ms
        full = self.deps.frames.frames(
            self.stream,
            start_ms=start,
            end_ms=at,
            interval_ms=interval,
            size=None,
            quality=settings.jpeg_quality,
            limit=(at - start) // interval + 1,
        )
        jpegs = {f.time_ms: f.jpeg for f in full if f.jpeg is not None}
        if at not in jpegs:
            return None
        wanted = {t for t, _ in span if t in jpegs} | {at}
        images = {t: decode(jpegs[t]) for t in sorted(wanted)}
        size = images[at].size
        cell = (1.0 / self.gate.grid[0], 1.0 / self.gate.grid[1])
        last = checkpoint.last_analysed_ms or at
        crops: dict[int, list[mosaic.Crop]] = {t: [] for t in images}
        for t, boxes in span:
            if t in images:
                crops[t] += [mosaic.motion_crop(b, size, cell) for b in boxes]
        crops[at] += [
            mosaic.face_crop(track.predicted(at), size)
            for track in tracker.tracks
            if not track.at_desk and (track.seen_ms >= last or track.moved_ms > last)
        ]
        layout = mosaic.pack([(t, c) for t, cs in crops.items() for c in mosaic.merge(cs)])
        counts.mosaics += 1
        counts.mosaic_tiles += len(layout.tiles)
        counts.tiles_dropped += layout.dropped
        if not layout.tiles:
            return []
        detected, cut = self.deps.searcher.detect_tiles(
            layout, {t: images[t] for t in {tile.time_ms for tile in layout.tiles}}
        )
        counts.faces_cut += cut
        return sorted(detected.items())

    def _tracked_faces(self, detected: DetectedFrame, at_ms: int) -> list[FaceSearchEntry]:
        """The frame's faces for its record: each face joins its track; a track is searched
        only when the tracker says so; a tracked face carries the matches of its track's search
        (this frame's DetectedFace, the track's MatchedFaces)."""
        counts, searcher, tracker = self.counts, self.deps.searcher, self.tracker
        width, height = detected.image.size
        seen = [_seen(d, width, height) for d in detected.details]
        entries = []
        for assignment, detail in zip(tracker.update(at_ms, seen), detected.details, strict=True):
            track = assignment.track
            if assignment.search or not self.settings.tracking:
                matches = searcher.search(detected, detail)
                counts.search_calls += 1
                if matches is None:
                    counts.faces_unsearchable += 1
                    tracker.refused(track)
                    continue
                tracker.searched(track, assignment.face, matches)
            reported = track.matches if track.reportable else None
            if reported is None:
                counts.faces_held += 1
                continue
            entries.append(entry(detail, reported))
            track.reported += 1
        return entries

    def _producer_now(self, checkpoint: Checkpoint) -> int:
        """Now by the camera's clock (frames are selected by producer time): our clock less
        the measured skew, measured again every ``clock_check_seconds``."""
        now_ms = to_ms(self.deps.clock.now())
        checked = checkpoint.clock_checked_ms
        if checked is None or now_ms - checked >= to_ms(self.settings.clock_check_seconds):
            self._check_clock(checkpoint, now_ms)
        return now_ms - checkpoint.clock_skew_ms

    def _check_clock(self, checkpoint: Checkpoint, now_ms: int) -> None:
        assert self.stream is not None
        try:
            fragments = self.deps.frames.fragment_times(
                self.stream, start_ms=now_ms - 30_000, end_ms=now_ms
            )
        except VideoThrottledError:
            self.counts.video_throttled += 1
            return
        checkpoint.clock_checked_ms = now_ms
        skew = measured_skew_ms(fragments)
        if skew is None:  # no recent fragment (camera silent): keep the last measurement
            return
        previous, checkpoint.clock_skew_ms = checkpoint.clock_skew_ms, skew
        self.counts.clock_skew_ms = skew
        bound = to_ms(self.settings.max_clock_skew_seconds)
        off = skew_off(skew, bound, checkpoint.clock_off)
        if off == checkpoint.clock_off:
            return
        event = clock_event(self.camera_id, off, skew, previous, self.deps.clock.now())
        if self.deps.health is None or self.deps.health.publish([event])[0]:
            checkpoint.clock_off = off  # not published: tried again at the next measurement
            self.counts.clock_events += 1

    def _flush(self, checkpoint: Checkpoint) -> None:
        written = self.deps.writer.put(self.camera_id, checkpoint.pending)
        self.counts.records_written += sum(written)
        checkpoint.pending = [
            p for p, ok in zip(checkpoint.pending, written, strict=True) if not ok
        ]
        if any(written):
            self._save()

    def _queue(self, checkpoint: Checkpoint, payload: bytes) -> None:
        checkpoint.pending.append(payload)
        overflow = len(checkpoint.pending) - self.settings.max_pending_records
        if overflow > 0:  # keep the newest; the loss is counted (and alarmed on)
            del checkpoint.pending[:overflow]
            self.counts.records_lost += overflow

    def _back_off(self) -> None:
        settings = self.settings
        delay = min(
            settings.backoff_max_seconds, settings.backoff_base_seconds * 2**self._throttle_level
        )
        self._throttle_level += 1
        self.backoff_until = self.deps.clock.now() + delay * self.deps.rng.uniform(0.5, 1.0)

    def _save(self, release: bool = False) -> None:
        if self.checkpoint is None:
            return
        now = self.deps.clock.now()
        self.checkpoint.looks = self.looks.dumps()
        self.counts.span_dropped += self.looks.dropped
        self.looks.dropped = 0
        kept = self.deps.store.save(self.checkpoint, to_ms(now), self._lease_until_ms, release)
        self._saved_at = now
        if not kept:  # another invocation owns the camera now: stop at once
            self.lease_lost = True
            self.checkpoint = None


def _seen(detail: dict[str, Any], width: int, height: int) -> SeenFace:
    box = detail["BoundingBox"]
    return SeenFace(
        box=(box["Left"], box["Top"], box["Width"], box["Height"]),
        pixels=min(box["Width"] * width, box["Height"] * height),
        yaw=float(detail.get("Pose", {}).get("Yaw", 0.0)),
        sharpness=float(detail.get("Quality", {}).get("Sharpness", 100.0)),
    )
