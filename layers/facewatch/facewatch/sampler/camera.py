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
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.sampler.checkpoint import Checkpoint, CheckpointStore
from facewatch.sampler.faces import FaceSearcher, RekognitionThrottledError
from facewatch.sampler.frames import (
    CameraUnavailableError,
    Frame,
    KvsFrames,
    StreamRef,
    VideoThrottledError,
)
from facewatch.sampler.motion import MotionGate, UndecodableFrameError
from facewatch.sampler.recordwriter import RecordWriter, build_record, encode_record
from facewatch.sampler.settings import SamplerSettings

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


@dataclass(slots=True)
class CameraCounts:
    """Counters of one camera in one invocation (summed into the run report and metrics)."""

    frames_seen: int = 0
    frames_unchanged: int = 0
    frames_rate_limited: int = 0
    frames_analysed: int = 0
    frames_not_analysed: int = 0  # needed analysis, dropped under throttling
    no_media: int = 0
    media_errors: int = 0
    detect_calls: int = 0
    search_calls: int = 0
    faces: int = 0
    faces_ignored: int = 0
    faces_unsearchable: int = 0
    records_written: int = 0
    records_lost: int = 0
    rekognition_throttled: int = 0
    video_throttled: int = 0
    cycle_errors: int = 0
    gap_seconds: float = 0.0
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
        now_ms = to_ms(clock.now())
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
        last = checkpoint.last_analysed_ms
        present = (
            checkpoint.last_faces_ms is not None
            and last is not None
            and frame.time_ms - last >= to_ms(settings.presence_seconds)
        )
        if not present and not self.gate.changed(sig):
            counts.frames_unchanged += 1
            return
        if last is not None and frame.time_ms - last < settings.analysis_interval_ms:
            counts.frames_rate_limited += 1
            return
        if self.deps.clock.now() < self.backoff_until:
            counts.frames_not_analysed += 1
            return
        self._analyse(checkpoint, frame, sig)

    def _analyse(self, checkpoint: Checkpoint, frame: Frame, sig: bytes) -> None:
        counts, settings = self.counts, self.settings
        assert self.stream is not None  # set at the start of the cycle
        try:
            full = self.deps.frames.frame_at(
                self.stream, frame.time_ms, settings.interval_ms, settings.jpeg_quality
            )
        except VideoThrottledError:
            counts.video_throttled += 1
            counts.frames_not_analysed += 1
            return
        if full is None or full.jpeg is None:
            counts.media_errors += 1
            return
        try:
            found = self.deps.searcher.analyse(full.jpeg)
        except RekognitionThrottledError:
            counts.rekognition_throttled += 1
            counts.frames_not_analysed += 1
            self._back_off()
            return
        except UndecodableFrameError:
            counts.media_errors += 1
            return
        self._throttle_level = 0
        counts.frames_analysed += 1
        counts.detect_calls += found.detect_calls
        counts.search_calls += found.search_calls
        counts.faces += len(found.entries)
        counts.faces_ignored += found.ignored
        counts.faces_unsearchable += found.unsearchable
        self.gate.accept(sig)
        checkpoint.gate_ref = sig
        checkpoint.last_analysed_ms = frame.time_ms
        checkpoint.last_faces_ms = frame.time_ms if found.entries else None
        payload = encode_record(build_record(self.stream.arn, frame.time_ms, found.entries))
        checkpoint.last_frame_ms = frame.time_ms
        if self.deps.writer.put(self.camera_id, [payload])[0]:
            counts.records_written += 1
            counts.written_at.append((frame.time_ms, to_ms(self.deps.clock.now())))
        else:
            self._queue(checkpoint, payload)
        # Every record in the stream is covered by a saved checkpoint: no frame twice.
        self._save()

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
        kept = self.deps.store.save(self.checkpoint, to_ms(now), self._lease_until_ms, release)
        self._saved_at = now
        if not kept:  # another invocation owns the camera now: stop at once
            self.lease_lost = True
            self.checkpoint = None
