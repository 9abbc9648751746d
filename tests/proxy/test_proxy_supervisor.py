"""Supervisor and runner logic with scripted children (our own Child interface) and no waiting:
the backoff sleep is injected and records the delays."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from facewatch_tools.proxy.backoff import Backoff, BackoffPolicy
from facewatch_tools.proxy.child import Child
from facewatch_tools.proxy.health import CameraState, HealthBoard
from facewatch_tools.proxy.pipeline import Codec, PipelineSettings, SinkKind, SinkSettings
from facewatch_tools.proxy.rtsp_credentials import RtspLogin
from facewatch_tools.proxy.runner import ProxyRunner
from facewatch_tools.proxy.supervisor import CameraSpec, CameraSupervisor, Timeouts

FRAME = (
    "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) "
    "({size} bytes, dts: none, flags: 00002200 marker delta-unit , meta: none) 0x1"
)
UNAUTHORIZED = [
    "ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Unauthorized",
    "Additional debug info:",
    "../gst/rtsp/gstrtspsrc.c(6899): gst_rtspsrc_send (): /GstPipeline:pipeline0/GstRTSPSrc:x:",
    "Unauthorized (401)",
    "ERROR: pipeline doesn't want to preroll.",
]
H265_SOURCE = [
    "/GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: caps = application/x-rtp, media=(string)video, "
    "payload=(int)96, encoding-name=(string)H265",
    "WARNING: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Delayed linking failed.",
    "ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Internal data stream error.",
]


class ScriptedChild:
    """Prints its lines, then either ends or (``hold``) waits until interrupted."""

    def __init__(self, lines: list[str], hold: bool = False, ignore_eos: bool = False) -> None:
        self._lines = [f"{line}\n".encode() for line in lines]
        self._hold = hold
        self._ignore_eos = ignore_eos
        self._ended = asyncio.Event()
        self.interrupted = False
        self.killed = False

    async def readline(self) -> bytes:
        if self._lines:
            return self._lines.pop(0)
        if self._hold:
            await self._ended.wait()
        return b""

    def interrupt(self) -> None:
        self.interrupted = True
        if not self._ignore_eos:
            self._ended.set()

    def kill(self) -> None:
        self.killed = True
        self._ended.set()

    async def wait(self) -> int:
        await self._ended.wait() if self._hold else None
        return -9 if self.killed else 1


class Spawner:
    def __init__(self, *children: ScriptedChild, on_empty: Any = None) -> None:
        self.children = list(children)
        self.argvs: list[list[str]] = []
        self.secrets: list[bytes | None] = []
        self.on_empty = on_empty

    async def __call__(
        self, argv: list[str], env: Mapping[str, str], secret: bytes | None = None
    ) -> Child:
        self.argvs.append(argv)
        self.secrets.append(secret)
        if not self.children:
            self.on_empty()
            return ScriptedChild([], hold=True)
        return self.children.pop(0)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def _supervisor(
    spawner: Spawner, sleeps: Sleeps, spec: CameraSpec | None = None, **kw: Any
) -> tuple[CameraSupervisor, HealthBoard]:
    spec = spec or CameraSpec("cam", "rtsp://10.0.0.5/s1")
    board = HealthBoard("hq")
    board.add(spec.camera_id, spec.url)
    policy = BackoffPolicy(initial=1, factor=2, maximum=8, reset_after=30)
    supervisor = CameraSupervisor(
        spec, kw.pop("settings", PipelineSettings()), board,
        Backoff(policy, uniform=lambda lo, hi: hi), spawner, env={}, sleep=sleeps, **kw,
    )  # fmt: skip
    return supervisor, board


def _run_until_spawner_empty(supervisor: CameraSupervisor, spawner: Spawner) -> None:
    async def go() -> None:
        spawner.on_empty = supervisor.stop
        await asyncio.wait_for(supervisor.run(), timeout=5)

    asyncio.run(go())


def test_failures_restart_with_growing_backoff_and_a_clear_error() -> None:
    spawner = Spawner(*[ScriptedChild(UNAUTHORIZED) for _ in range(5)])
    sleeps = Sleeps()
    supervisor, board = _supervisor(
        spawner, sleeps, CameraSpec("cam", "rtsp://10.0.0.5/s1", RtspLogin(username="u",
                                                                             password=SecretStr("p4ss")))
    )  # fmt: skip
    _run_until_spawner_empty(supervisor, spawner)
    assert sleeps.delays == [1, 2, 4, 8, 8]
    cam = board.snapshot()[0]
    assert cam.restarts == 5 and cam.state is CameraState.STOPPED
    assert cam.last_error == (
        "rtsp://10.0.0.5/s1: the camera refused the login (401 Unauthorized): check this "
        "camera's entry in the RTSP credentials file"
    )
    assert "p4ss" not in " ".join(spawner.argvs[0])  # the login goes to the child's stdin
    assert b"p4ss" in (spawner.secrets[0] or b"")


def test_a_camera_that_sends_h265_gets_the_h265_pipeline_at_once() -> None:
    spawner = Spawner(ScriptedChild(H265_SOURCE), ScriptedChild([FRAME.format(size=900)] * 3))
    sleeps = Sleeps()
    supervisor, board = _supervisor(spawner, sleeps)
    _run_until_spawner_empty(supervisor, spawner)
    assert "rtph264depay" in spawner.argvs[0] and "rtph265depay" in spawner.argvs[1]
    assert supervisor.codec is Codec.H265
    assert sleeps.delays == [1]  # no backoff before the switch; only after the 2nd run ended
    assert board.snapshot()[0].frames == 3


def test_an_unsupported_codec_is_reported_not_switched() -> None:
    lines = [H265_SOURCE[0].replace("H265", "JPEG"), *H265_SOURCE[1:]]
    spawner = Spawner(ScriptedChild(lines))
    sleeps = Sleeps()
    supervisor, board = _supervisor(spawner, sleeps)
    _run_until_spawner_empty(supervisor, spawner)
    assert supervisor.codec is Codec.H264
    assert "sends JPEG; only H.264 and H.265" in (board.snapshot()[0].last_error or "")


def test_a_long_stream_resets_the_backoff() -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            Clock.now += 1.0  # every reading is a second later
            return Clock.now

    frames = [FRAME.format(size=100)] * 40
    spawner = Spawner(ScriptedChild(UNAUTHORIZED), ScriptedChild(UNAUTHORIZED),
                      ScriptedChild(frames), ScriptedChild(UNAUTHORIZED))  # fmt: skip
    sleeps = Sleeps()
    supervisor, _ = _supervisor(spawner, sleeps, clock=Clock())
    _run_until_spawner_empty(supervisor, spawner)
    assert sleeps.delays[:3] == [1, 2, 1]  # the 40-frame run streamed > 30 s: back to 1


def test_a_stalled_pipeline_is_interrupted_then_killed_if_it_ignores_eos() -> None:
    stuck = ScriptedChild([FRAME.format(size=100)], hold=True, ignore_eos=True)
    spawner = Spawner(stuck)
    sleeps = Sleeps()
    supervisor, board = _supervisor(
        spawner, sleeps, timeouts=Timeouts(first_frame=1, stall=0.01, stall_grace=0.01)
    )
    _run_until_spawner_empty(supervisor, spawner)
    assert stuck.interrupted and stuck.killed
    assert board.snapshot()[0].last_error == (
        "rtsp://10.0.0.5/s1: no frame for 0 s (camera or link stalled)"
    )


def test_stop_during_backoff_ends_at_once_without_another_run() -> None:
    spawner = Spawner(ScriptedChild(UNAUTHORIZED))
    supervisor, board = _supervisor(spawner, asyncio.sleep)  # type: ignore[arg-type]

    async def go() -> None:
        task = asyncio.create_task(supervisor.run())
        while board.snapshot()[0].state is not CameraState.RETRYING:
            await asyncio.sleep(0)
        supervisor.stop()  # the real 1 s backoff sleep is cut short
        await asyncio.wait_for(task, timeout=0.5)

    asyncio.run(go())
    assert len(spawner.argvs) == 1
    assert board.snapshot()[0].state is CameraState.STOPPED


def test_a_missing_gst_launch_is_a_clear_error() -> None:
    class NoBinary(Spawner):
        async def __call__(
            self, argv: list[str], env: Mapping[str, str], secret: bytes | None = None
        ) -> Child:
            self.argvs.append(argv)
            if len(self.argvs) > 1:
                self.on_empty()
            raise FileNotFoundError(2, "No such file or directory")

    spawner = NoBinary()
    sleeps = Sleeps()
    supervisor, board = _supervisor(spawner, sleeps)
    _run_until_spawner_empty(supervisor, spawner)
    assert "cannot start gst-launch-1.0: No such file or directory" in (
        board.snapshot()[0].last_error or ""
    )


def test_runs_that_recorded_nothing_leave_no_empty_file(tmp_path: Path) -> None:
    settings = PipelineSettings(sink=SinkSettings(kind=SinkKind.FILESINK, output_dir=tmp_path))
    (tmp_path / "cam-0001.mkv").touch()  # what filesink leaves when the camera refuses
    spawner = Spawner(ScriptedChild(UNAUTHORIZED))
    supervisor, _ = _supervisor(spawner, Sleeps(), settings=settings)
    _run_until_spawner_empty(supervisor, spawner)
    assert not (tmp_path / "cam-0001.mkv").exists()


def test_runner_beats_refreshes_and_stops_every_camera() -> None:
    beats: list[str] = []

    class Beat:
        def publish(self) -> bool:
            beats.append("beat")
            return True

    class Creds:
        path = Path("/nonexistent")

        def __init__(self) -> None:
            self.writes = 0
            self.removed = False

        def write(self) -> None:
            self.writes += 1
            if self.writes == 2:
                raise RuntimeError("sts unreachable")  # logged; streaming goes on

        def remove(self) -> None:
            self.removed = True

    children = [ScriptedChild([FRAME.format(size=10)], hold=True) for _ in range(2)]
    board = HealthBoard("hq")
    supervisors = []
    for n, child in enumerate(children):
        spec = CameraSpec(f"cam-{n}", "rtsp://h/s")
        board.add(spec.camera_id, spec.url)
        supervisors.append(CameraSupervisor(
            spec, PipelineSettings(), board, Backoff(BackoffPolicy()), Spawner(child), env={},
        ))  # fmt: skip
    creds = Creds()
    stop = asyncio.Event()
    ticks = 0

    async def sleep(delay: float) -> None:
        nonlocal ticks
        ticks += 1
        if ticks > 6:
            stop.set()
        await asyncio.sleep(0)

    runner = ProxyRunner(
        supervisors,
        heartbeat=Beat(),
        heartbeat_interval=60,
        kvs_credentials=creds,
        sleep=sleep,
    )
    asyncio.run(asyncio.wait_for(runner.run(stop), timeout=5))
    assert all(child.interrupted for child in children)
    assert all(c.state is CameraState.STOPPED for c in board.snapshot())
    assert len(beats) >= 3  # periodic beats plus the final one
    assert creds.writes >= 2 and creds.removed
