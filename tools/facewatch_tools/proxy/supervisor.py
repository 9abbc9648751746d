"""One supervisor per camera: run its pipeline, watch it, restart it with backoff, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from facewatch_tools.proxy.backoff import Backoff
from facewatch_tools.proxy.child import Child, Spawner
from facewatch_tools.proxy.gst_messages import (
    Encoding,
    EndOfStream,
    Frame,
    GstError,
    LinkFailed,
    explain,
    parse_line,
)
from facewatch_tools.proxy.health import HealthBoard
from facewatch_tools.proxy.pipeline import (
    Codec,
    PipelineSettings,
    SinkKind,
    build_argv,
    secret_input,
)
from facewatch_tools.proxy.redaction import redact
from facewatch_tools.proxy.rtsp_credentials import RtspLogin

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
DETAIL_LINES = 3  # gst prints the useful detail (e.g. "Unauthorized (401)") after ERROR


@dataclass(frozen=True)
class CameraSpec:
    camera_id: str
    url: str  # without credentials
    login: RtspLogin | None = None
    codec: Codec = Codec.H264


@dataclass(frozen=True)
class Timeouts:
    first_frame: float = 20.0  # connect + SETUP/PLAY + first access unit
    stall: float = 10.0  # no frame for this long while streaming: restart
    stop_grace: float = 10.0  # after SIGINT (EOS), before SIGKILL
    stall_grace: float = 2.0  # the same after a stall: a frozen peer can block the EOS


@dataclass
class RunOutcome:
    frames: int = 0
    streamed: float = 0.0
    errors: list[str] = field(default_factory=list)
    encoding: str | None = None
    link_failed: bool = False
    stalled: bool = False
    exit_code: int | None = None


class CameraSupervisor:
    def __init__(
        self,
        spec: CameraSpec,
        settings: PipelineSettings,
        board: HealthBoard,
        backoff: Backoff,
        spawn: Spawner,
        *,
        env: Mapping[str, str],
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeouts: Timeouts = Timeouts(),
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.spec = spec
        self.codec = spec.codec
        self.runs = 0
        self._settings = settings
        self._board = board
        self._backoff = backoff
        self._spawn = spawn
        self._env = env
        self._sleep = sleep
        self._clock = clock
        self._timeouts = timeouts
        self._secrets = (
            *secrets,
            *([spec.login.password.get_secret_value()] if spec.login else []),
        )
        self._stop = asyncio.Event()
        self._child: Child | None = None
        self.url = redact(spec.url, self._secrets)

    @property
    def camera_id(self) -> str:
        return self.spec.camera_id

    def stop(self) -> None:
        """Ask for a clean stop: the running pipeline gets EOS; no restart follows."""
        self._stop.set()
        if self._child is not None:
            self._child.interrupt()

    def kill(self) -> None:
        if self._child is not None:
            self._child.kill()

    async def run(self) -> None:
        while not self._stop.is_set():
            self.runs += 1
            self._board.starting(self.camera_id)
            outcome = await self._run_once()
            if self._stop.is_set():
                break
            self._backoff.streamed_for(outcome.streamed)
            error = self._describe(outcome)
            switch = self._codec_switch(outcome)
            if switch is not None:
                logger.warning(
                    "camera %s: it sends %s, not %s; restarting with the %s pipeline",
                    self.camera_id, switch.encoding_name, self.codec.encoding_name,
                    switch.encoding_name,
                )  # fmt: skip
                self.codec = switch
                delay = 0.0
            else:
                delay = self._backoff.next_delay()
                logger.warning(
                    "camera %s: %s; restart %d in %.1f s", self.camera_id, error, self.runs, delay
                )
            self._board.ended(self.camera_id, error, restarting=True)
            await self._wait(delay)
        self._board.ended(self.camera_id, None, restarting=False)
        logger.info("camera %s: stopped", self.camera_id)

    async def _wait(self, delay: float) -> None:
        if delay <= 0:
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run_once(self) -> RunOutcome:
        argv = build_argv(
            self.camera_id, self.spec.url, self.spec.login, self.codec, self._settings,
            run=self.runs,
        )  # fmt: skip
        logger.info("camera %s: starting %s (%s)", self.camera_id, self.url, self.codec.value)
        logger.debug("camera %s: %s", self.camera_id, redact(" ".join(argv), self._secrets))
        outcome = RunOutcome()
        try:
            login = secret_input(self.spec.login)
            child = await (
                self._spawn(argv, self._env)
                if login is None
                else self._spawn(argv, self._env, login)
            )
        except OSError as exc:
            outcome.errors.append(f"cannot start {argv[0]}: {exc.strerror}")
            return outcome
        self._child = child
        if self._stop.is_set():  # stop() came while spawning
            child.interrupt()
        try:
            await self._read(child, outcome)
        finally:
            grace = self._timeouts.stall_grace if outcome.stalled else self._timeouts.stop_grace
            outcome.exit_code = await self._reap(child, grace)
            self._child = None
        if outcome.frames == 0:
            self._discard_empty_output()
        return outcome

    async def _read(self, child: Child, outcome: RunOutcome) -> None:
        """Follow the child's output until it ends, or until no frame came in time."""
        # Deadlines count from the last frame, not the last line: -v keeps printing
        # property notifications while no video flows.
        deadline = self._clock() + self._timeouts.first_frame
        first_frame_at: float | None = None
        detail = 0
        while True:
            try:
                raw = await asyncio.wait_for(
                    child.readline(), timeout=max(0.0, deadline - self._clock())
                )
            except TimeoutError:
                outcome.stalled = True
                child.interrupt()
                return
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            if detail and line and not line.startswith("Additional debug info"):
                outcome.errors.append(line)  # e.g. "Unauthorized (401)"
                detail -= 1
            event = parse_line(line)
            if isinstance(event, Frame):
                now = self._clock()
                if first_frame_at is None:
                    first_frame_at = now
                    logger.info("camera %s: streaming", self.camera_id)
                deadline = now + self._timeouts.stall
                outcome.frames += 1
                outcome.streamed = now - first_frame_at
                self._board.frame(self.camera_id, event.size)
            elif isinstance(event, GstError):
                outcome.errors.append(event.message)
                detail = DETAIL_LINES
            elif event is not None:
                self._note(event, outcome)

    def _note(self, event: Encoding | LinkFailed | EndOfStream, outcome: RunOutcome) -> None:
        if isinstance(event, Encoding):
            outcome.encoding = event.name
        elif isinstance(event, LinkFailed):
            outcome.link_failed = True
        elif not self._stop.is_set():
            outcome.errors.append("the camera ended the stream")

    def _discard_empty_output(self) -> None:
        """A run that recorded nothing leaves no empty file behind (filesink only)."""
        sink = self._settings.sink
        if sink.kind is SinkKind.FILESINK:
            path = sink.output_path(self.camera_id, self.runs)
            with contextlib.suppress(OSError):
                if path.stat().st_size == 0:
                    path.unlink()

    async def _reap(self, child: Child, grace: float) -> int:
        try:
            return await asyncio.wait_for(child.wait(), timeout=grace)
        except TimeoutError:
            logger.warning("camera %s: pipeline ignored EOS; killing it", self.camera_id)
            child.kill()
            return await child.wait()

    def _codec_switch(self, outcome: RunOutcome) -> Codec | None:
        if not outcome.link_failed or outcome.encoding is None:
            return None
        for codec in Codec:
            if codec.encoding_name == outcome.encoding and codec is not self.codec:
                return codec
        return None

    def _describe(self, outcome: RunOutcome) -> str:
        if outcome.stalled:
            what = "no first frame" if outcome.frames == 0 else "no frame"
            budget = self._timeouts.first_frame if outcome.frames == 0 else self._timeouts.stall
            return f"{self.url}: {what} for {budget:.0f} s (camera or link stalled)"
        supported = {codec.encoding_name for codec in Codec}
        if outcome.link_failed and outcome.encoding and outcome.encoding not in supported:
            return (
                f"{self.url}: the camera sends {outcome.encoding}; only H.264 and H.265 can be "
                "streamed to KVS"
            )
        if not outcome.errors:
            return f"{self.url}: pipeline ended (exit code {outcome.exit_code})"
        return redact(explain(outcome.errors, self.url), self._secrets)
