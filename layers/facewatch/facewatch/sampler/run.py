"""One invocation: serve a group of cameras until the time budget ends, then hand over.

The budget is the smaller of SAMPLER_RUN_SECONDS and the Lambda's remaining time less a stop
margin (longer than one analysis), so the invocation always ends by itself, with every
checkpoint saved and every lease released; the next scheduled invocation continues from the
checkpoints. Cameras are served in parallel each tick (``map_fn``: a thread pool in Lambda, a
plain map in tests).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from facewatch.fleet.inventory import CameraIdStr
from facewatch.sampler.camera import CameraCounts, CameraSampler, SamplerDeps, to_ms
from facewatch.sampler.settings import SamplerSettings

MapFn = Callable[[Callable[[CameraSampler], None], Iterable[CameraSampler]], Iterator[None]]


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SamplerRequest(BaseModel):
    """The scheduled event: the cameras (KVS stream names) this invocation serves."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    group: str = Field(default="default", min_length=1, max_length=64)
    cameras: list[CameraIdStr] = Field(min_length=1, max_length=64)


class CameraResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    served: bool
    unavailable: str | None = None
    lease_lost: bool = False
    gap_seconds: float = 0.0
    records_written: int = 0
    records_pending: int = 0
    clock_skew_seconds: float = 0.0  # producer clock behind (+) or ahead of (-) KVS's


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    group: str
    totals: dict[str, float]
    cameras: dict[str, CameraResult]
    latency_p50_ms: float | None = None
    latency_max_ms: float | None = None
    # Every written record's (frame time, in-stream time) in ms; kept out of logs and response.
    written_at: list[tuple[int, int]] = Field(default_factory=list, exclude=True)

    def metrics(self) -> dict[str, float]:
        """Metric name -> value (counts, seconds) for Powertools Metrics."""
        names = {
            "frames_seen": "FramesSeen",
            "frames_unchanged": "FramesUnchanged",
            "frames_analysed": "FramesAnalysed",
            "frames_not_analysed": "FramesNotAnalysed",
            "no_media": "FramesNoMedia",
            "media_errors": "FramesMediaError",
            "detect_calls": "DetectFacesCalls",
            "search_calls": "SearchFacesCalls",
            "faces_ignored": "FacesIgnored",
            "faces_unsearchable": "FacesUnsearchable",
            "faces_too_small": "FacesTooSmall",
            "faces_held": "FacesHeld",
            "mosaics": "Mosaics",
            "mosaic_tiles": "MosaicTiles",
            "tiles_dropped": "TilesDropped",
            "faces_cut": "FacesCut",
            "span_dropped": "FramesNotLooked",
            "records_written": "RecordsWritten",
            "records_lost": "RecordsLost",
            "rekognition_throttled": "RekognitionThrottled",
            "video_throttled": "VideoThrottled",
            "cycle_errors": "CycleErrors",
            "gap_seconds": "GapSeconds",
            "clock_events": "ClockHealthEvents",
        }
        values = {metric: self.totals.get(key, 0.0) for key, metric in names.items()}
        values["CamerasUnavailable"] = sum(1 for c in self.cameras.values() if c.unavailable)
        values["CamerasNotServed"] = sum(1 for c in self.cameras.values() if not c.served)
        values["RecordsPending"] = sum(c.records_pending for c in self.cameras.values())
        values["ClockSkewSeconds"] = max(
            (abs(c.clock_skew_seconds) for c in self.cameras.values()), default=0.0
        )
        return values


def run_group(
    request: SamplerRequest,
    settings: SamplerSettings,
    deps: SamplerDeps,
    remaining_ms: Callable[[], int],
    map_fn: MapFn = map,
) -> RunReport:
    clock = deps.clock
    start = clock.now()
    budget = min(settings.run_seconds, remaining_ms() / 1000.0 - settings.stop_margin_seconds)
    deadline = start + max(0.0, budget)
    lease_until_ms = to_ms(deadline + settings.lease_margin_seconds)
    samplers = [CameraSampler(c, settings, deps) for c in dict.fromkeys(request.cameras)]
    served: set[str] = set()

    def cycle(sampler: CameraSampler) -> None:
        sampler.cycle(deadline)

    while clock.now() < deadline:
        tick = clock.now()
        for sampler in samplers:  # a lease held by an overrunning predecessor frees up soon
            if not sampler.owned and not sampler.lease_lost and sampler.try_acquire(lease_until_ms):
                served.add(sampler.camera_id)
        active = [s for s in samplers if s.owned and not s.unavailable]
        for _ in map_fn(cycle, active):
            pass
        wait = min(tick + settings.poll_seconds, deadline) - clock.now()
        if wait > 0:
            clock.sleep(wait)
    for sampler in samplers:
        sampler.close()
    return _report(request.group, samplers, served)


def _report(group: str, samplers: Sequence[CameraSampler], served: set[str]) -> RunReport:
    totals: dict[str, float] = {}
    written_at: list[tuple[int, int]] = []
    for sampler in samplers:
        for item in fields(CameraCounts):
            value: Any = getattr(sampler.counts, item.name)
            if isinstance(value, int | float) and item.name != "clock_skew_ms":
                totals[item.name] = totals.get(item.name, 0) + value
        written_at += sampler.counts.written_at
    cameras = {
        s.camera_id: CameraResult(
            served=s.camera_id in served,
            unavailable=s.unavailable,
            lease_lost=s.lease_lost,
            gap_seconds=round(s.counts.gap_seconds, 3),
            records_written=s.counts.records_written,
            records_pending=s.pending_at_close,
            clock_skew_seconds=s.counts.clock_skew_ms / 1000.0,
        )
        for s in samplers
    }
    latencies = [put - frame for frame, put in written_at]
    return RunReport(
        group=group,
        totals=totals,
        cameras=cameras,
        latency_p50_ms=statistics.median(latencies) if latencies else None,
        latency_max_ms=max(latencies) if latencies else None,
        written_at=written_at,
    )
