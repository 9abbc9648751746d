"""The proxy against a real RTSP server (gst-rtsp-server on 127.0.0.1), recording with filesink."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from facewatch_tools.proxy.backoff import Backoff, BackoffPolicy
from facewatch_tools.proxy.child import spawn_process
from facewatch_tools.proxy.health import CameraSnapshot, HealthBoard
from facewatch_tools.proxy.pipeline import Codec, PipelineSettings, SinkKind, SinkSettings
from facewatch_tools.proxy.rtsp_credentials import RtspLogin
from facewatch_tools.proxy.runner import ProxyRunner
from facewatch_tools.proxy.supervisor import CameraSpec, CameraSupervisor, Timeouts

pytestmark = pytest.mark.integration

EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # every Matroska file starts with it
FAST = BackoffPolicy(initial=0.2, factor=2.0, maximum=1.0, reset_after=1.0)


def _x265_available() -> bool:
    return subprocess.run(["gst-inspect-1.0", "--exists", "x265enc"], check=False).returncode == 0


def _proxy(
    specs: list[CameraSpec], out: Path, policy: BackoffPolicy = FAST
) -> tuple[HealthBoard, ProxyRunner]:
    board = HealthBoard("lab", stall_after=3.0, window=2.0)
    settings = PipelineSettings(sink=SinkSettings(kind=SinkKind.FILESINK, output_dir=out))
    supervisors = []
    for spec in specs:
        supervisor = CameraSupervisor(
            spec, settings, board, Backoff(policy), spawn_process, env=dict(os.environ),
            timeouts=Timeouts(first_frame=8.0, stall=3.0, stop_grace=5.0),
        )  # fmt: skip
        board.add(spec.camera_id, supervisor.url)
        supervisors.append(supervisor)
    return board, ProxyRunner(supervisors, stop_grace=8.0)


async def _until(
    board: HealthBoard, ok: Callable[[dict[str, CameraSnapshot]], bool], timeout: float
) -> dict[str, CameraSnapshot]:
    deadline = time.monotonic() + timeout
    while True:
        cams = {c.camera_id: c for c in board.snapshot()}
        if ok(cams):
            return cams
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s: {cams}")
        await asyncio.sleep(0.05)


def _sample(body: str, metric: str, camera_id: str) -> float:
    """The value of one camera's sample in Prometheus text (-1 if absent)."""
    prefix = f'facewatch_proxy_{metric}{{camera="{camera_id}",site="lab"}} '
    values = [float(line[len(prefix) :]) for line in body.splitlines() if line.startswith(prefix)]
    return values[0] if values else -1.0


def _recorded(path: Path) -> bytes:
    data = path.read_bytes()
    assert data[:4] == EBML_MAGIC, f"{path} is not Matroska"
    return data


def test_each_camera_is_recorded_and_bad_ones_fail_alone(
    rtsp_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="facewatch_tools.proxy")
    password = rtsp_server.password
    good = {
        "cam-1": CameraSpec("cam-1", rtsp_server.url("cam1")),
        "cam-2": CameraSpec("cam-2", rtsp_server.url("cam2")),
        "cam-secure": CameraSpec(
            "cam-secure",
            rtsp_server.url("secure"),
            RtspLogin(username="viewer", password=SecretStr(password)),
        ),
    }
    if _x265_available():  # an H.265 camera: the proxy learns the codec from the SDP
        good["cam-hevc"] = CameraSpec("cam-hevc", rtsp_server.url("hevc"), codec=Codec.H264)
    bad = {
        "cam-wrong-login": CameraSpec(
            "cam-wrong-login", rtsp_server.url("secure"),
            RtspLogin(username="viewer", password=SecretStr("not-the-password")),
        ),
        "cam-no-login": CameraSpec("cam-no-login", rtsp_server.url("secure")),
        "cam-typo": CameraSpec("cam-typo", rtsp_server.url("nope")),
    }  # fmt: skip
    board, runner = _proxy([*good.values(), *bad.values()], tmp_path)

    def settled(cams: dict[str, CameraSnapshot]) -> bool:
        return all(cams[c].frames >= 20 and cams[c].up for c in good) and all(
            cams[c].restarts >= 2 for c in bad
        )

    async def scenario() -> dict[str, CameraSnapshot]:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            cams = await _until(board, settled, timeout=15)
        finally:
            stop.set()
            await task
        return cams

    cams = asyncio.run(scenario())

    for camera_id in good:
        assert cams[camera_id].restarts == (1 if camera_id == "cam-hevc" else 0)
        assert cams[camera_id].last_error is None
        assert cams[camera_id].bitrate_bps > 0
        recordings = sorted(tmp_path.glob(f"{camera_id}-*.mkv"))
        assert recordings, f"nothing recorded for {camera_id}"
        assert len(_recorded(recordings[-1])) > 10_000
    assert "401 Unauthorized" in (cams["cam-wrong-login"].last_error or "")
    assert "401 Unauthorized" in (cams["cam-no-login"].last_error or "")
    assert "404 Not Found" in (cams["cam-typo"].last_error or "")
    for camera_id in bad:
        assert not cams[camera_id].up
        assert not list(tmp_path.glob(f"{camera_id}-*.mkv")), "empty recordings are removed"
    logged = caplog.text
    assert "gst_child.py" in logged  # the debug argv was logged, without the login
    assert password not in logged and "not-the-password" not in logged


def test_reconnects_within_the_backoff_bound_after_the_server_restarts(
    rtsp_server: Any, tmp_path: Path
) -> None:
    password = rtsp_server.password
    specs = [
        CameraSpec("cam-1", rtsp_server.url("cam1")),
        CameraSpec("cam-secure", rtsp_server.url("secure"), RtspLogin(username="viewer",
                                                                        password=SecretStr(password))),
    ]  # fmt: skip
    board, runner = _proxy(specs, tmp_path)
    ids = [s.camera_id for s in specs]
    connect_allowance = 3.0  # RTSP DESCRIBE/SETUP/PLAY and the first keyframe, on a busy CI

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await _until(board, lambda c: all(c[i].frames >= 10 for i in ids), timeout=10)
            await asyncio.to_thread(rtsp_server.stop)
            down = await _until(
                board, lambda c: all(not c[i].up and c[i].restarts >= 2 for i in ids), timeout=10
            )
            await asyncio.to_thread(rtsp_server.start)
            back_at = time.monotonic()
            await _until(
                board,
                lambda c: all(c[i].up and c[i].frames > down[i].frames for i in ids),
                timeout=FAST.maximum + connect_allowance,
            )
            return time.monotonic() - back_at
        finally:
            stop.set()
            await task

    reconnect = asyncio.run(scenario())
    print(f"reconnected {reconnect:.2f} s after the RTSP server came back")
    assert reconnect <= FAST.maximum + connect_allowance
    for camera_id in ids:  # one recording before the outage, one after
        recordings = sorted(tmp_path.glob(f"{camera_id}-*.mkv"))
        assert len(recordings) == 2, recordings
        assert all(len(_recorded(r)) > 1000 for r in recordings)


def test_a_silent_camera_is_detected_as_stalled_and_restarted(
    rtsp_server: Any, tmp_path: Path
) -> None:
    board, runner = _proxy([CameraSpec("cam-1", rtsp_server.url("cam1"))], tmp_path)

    async def scenario() -> tuple[CameraSnapshot, CameraSnapshot]:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await _until(board, lambda c: c["cam-1"].frames >= 10, timeout=10)
            rtsp_server.freeze()
            try:
                stalled = await _until(board, lambda c: c["cam-1"].restarts >= 1, timeout=8)
            finally:
                rtsp_server.thaw()
            frames = stalled["cam-1"].frames
            back = await _until(
                board, lambda c: c["cam-1"].up and c["cam-1"].frames > frames + 5, timeout=15
            )
            return stalled["cam-1"], back["cam-1"]
        finally:
            stop.set()
            await task

    stalled, back = asyncio.run(scenario())
    assert "no frame for 3 s" in (stalled.last_error or "")
    assert back.last_error is None


@pytest.fixture
def moto_server() -> Iterator[str]:
    """CloudWatch for the proxy subprocess: moto in server mode on 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_cli_streams_serves_metrics_beats_and_stops_cleanly_on_sigterm(
    rtsp_server: Any, tmp_path: Path, moto_server: str
) -> None:
    password = rtsp_server.password
    inventory = tmp_path / "cameras.yaml"
    inventory.write_text(
        "sites:\n  - {id: lab, name: Lab}\ncameras:\n"
        f"  - {{id: cam-1, site: lab, display_name: One, rtsp_url: '{rtsp_server.url('cam1')}'}}\n"
        "  - {id: cam-secure, site: lab, display_name: Secure, "
        f"rtsp_url: '{rtsp_server.url('secure')}'}}\n"
        "  - {id: cam-off, site: lab, display_name: Unplugged, rtsp_url: 'rtsp://127.0.0.1:9/x'}\n"
    )
    credentials = tmp_path / "rtsp-credentials.yaml"
    credentials.write_text(
        f"cameras:\n  cam-secure: {{username: viewer, password: '{password}'}}\n"
    )
    credentials.chmod(0o600)
    cloudwatch = boto3.client(
        "cloudwatch",
        region_name="eu-west-1",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def peak(metric: str, camera_id: str | None = None) -> float:
        dims = [{"Name": "Site", "Value": "lab"}]
        if camera_id:
            dims.append({"Name": "CameraId", "Value": camera_id})
        now = datetime.now(UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace="Facewatch/Proxy", MetricName=metric, Dimensions=dims,
            StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
            Period=60, Statistics=["Maximum", "SampleCount"],
        )["Datapoints"]  # fmt: skip
        return max((float(p["Maximum"]) for p in points), default=-1.0)

    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "facewatch_tools.cli", "proxy", "run", "--site", "lab",
         "--inventory", str(inventory), "--credentials", str(credentials),
         "--sink", "filesink", "--output-dir", str(out), "--region", "eu-west-1",
         "--heartbeat-interval", "0.5", "--metrics-port", "0",
         "--backoff-initial", "0.2", "--backoff-max", "1", "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "AWS_ENDPOINT_URL_CLOUDWATCH": moto_server,
             "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )  # fmt: skip
    lines: list[str] = []
    port_found = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "metrics on http://127.0.0.1:" in line:
                port_found.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert port_found.wait(10), "".join(lines)
        port = int(re.search(r"127\.0\.0\.1:(\d+)/metrics", "".join(lines))[1])  # type: ignore[index]
        deadline = time.monotonic() + 10
        body = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                body = resp.read().decode()
            if (
                _sample(body, "camera_up", "cam-1") == 1
                and _sample(body, "camera_up", "cam-secure") == 1
                and _sample(body, "camera_restarts_total", "cam-off") >= 1
                and peak("CameraUp", "cam-1") == 1  # a beat was sent while streaming
            ):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"proxy never reported every camera as expected:\n{body}")
        assert _sample(body, "camera_up", "cam-off") == 0, body
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        stop_seconds = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(5)
    log = "".join(lines)
    print(f"stopped {stop_seconds:.2f} s after SIGTERM")
    assert "cannot connect to the camera" in log
    assert password not in log and password not in body
    assert "proxy: stopped" in log
    for camera_id in ("cam-1", "cam-secure"):
        assert len(_recorded(out / f"{camera_id}-0001.mkv")) > 1000
    assert peak("ProxyHeartbeat") == 1
    assert peak("CameraUp", "cam-1") == 1 and peak("CameraUp", "cam-secure") == 1
    assert peak("CameraUp", "cam-off") == 0
    assert peak("CameraRestarts", "cam-off") >= 1
