"""Per-camera health: up/down, restarts, last frame time, bitrate. Written by the supervisors
(event loop), read by the Prometheus server (its own thread) and the heartbeat."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class CameraState(StrEnum):
    STARTING = "starting"  # child started, no frame yet
    STREAMING = "streaming"  # frames flowing
    RETRYING = "retrying"  # child ended; waiting out the backoff
    STOPPED = "stopped"  # proxy shutting down


@dataclass(frozen=True)
class CameraSnapshot:
    camera_id: str
    site: str
    url: str  # redacted
    state: CameraState
    up: bool
    restarts: int
    frames: int
    bytes: int
    last_frame_at: float | None  # unix seconds
    bitrate_bps: float
    last_error: str | None  # redacted, operator-facing


@dataclass
class _Camera:
    camera_id: str
    site: str
    url: str
    state: CameraState = CameraState.STARTING
    restarts: int = 0
    frames: int = 0
    bytes: int = 0
    last_frame_wall: float | None = None
    last_frame_mono: float | None = None
    last_error: str | None = None
    window: deque[tuple[float, int]] = field(default_factory=deque)


class HealthBoard:
    """Thread-safe health of every camera of the site.

    A camera is up while it is streaming and its last frame is younger than ``stall_after``.
    Bitrate is the bytes of the last ``window`` seconds of frames.
    """

    def __init__(
        self,
        site: str,
        stall_after: float = 10.0,
        window: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.stall_after = stall_after
        self.window = window
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}

    def add(self, camera_id: str, url: str) -> None:
        with self._lock:
            self._cameras[camera_id] = _Camera(camera_id, self.site, url)

    def starting(self, camera_id: str) -> None:
        with self._lock:
            self._cameras[camera_id].state = CameraState.STARTING

    def frame(self, camera_id: str, size: int) -> None:
        now = self._monotonic()
        with self._lock:
            cam = self._cameras[camera_id]
            cam.state = CameraState.STREAMING
            cam.frames += 1
            cam.bytes += size
            cam.last_frame_mono = now
            cam.last_frame_wall = self._wall()
            cam.last_error = None
            cam.window.append((now, size))
            self._trim(cam, now)

    def ended(self, camera_id: str, error: str | None, restarting: bool) -> None:
        with self._lock:
            cam = self._cameras[camera_id]
            cam.state = CameraState.RETRYING if restarting else CameraState.STOPPED
            if restarting:
                cam.restarts += 1
            if error is not None:
                cam.last_error = error
            cam.window.clear()

    def snapshot(self) -> list[CameraSnapshot]:
        now = self._monotonic()
        with self._lock:
            out = []
            for cam in self._cameras.values():
                self._trim(cam, now)
                fresh = cam.last_frame_mono is not None and now - cam.last_frame_mono <= (
                    self.stall_after
                )
                out.append(
                    CameraSnapshot(
                        camera_id=cam.camera_id,
                        site=cam.site,
                        url=cam.url,
                        state=cam.state,
                        up=cam.state is CameraState.STREAMING and fresh,
                        restarts=cam.restarts,
                        frames=cam.frames,
                        bytes=cam.bytes,
                        last_frame_at=cam.last_frame_wall,
                        bitrate_bps=sum(size for _, size in cam.window) * 8 / self.window,
                        last_error=cam.last_error,
                    )
                )
            return out

    def _trim(self, cam: _Camera, now: float) -> None:
        while cam.window and now - cam.window[0][0] > self.window:
            cam.window.popleft()
