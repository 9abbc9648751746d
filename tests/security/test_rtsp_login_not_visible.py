"""Finding 2: another user of the proxy host cannot read a camera's RTSP login.

A real pipeline runs against the local test camera (/secure needs the login) while another
user (``nobody``, through runuser) reads every process's command line and environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from facewatch_tools.proxy.child import spawn_process
from facewatch_tools.proxy.gst_messages import Frame, parse_line
from facewatch_tools.proxy.pipeline import (
    Codec,
    PipelineSettings,
    SinkKind,
    SinkSettings,
    build_argv,
    secret_input,
)
from facewatch_tools.proxy.rtsp_credentials import RtspLogin
from tests.proxy.conftest import RtspServer, gstreamer_missing

pytestmark = pytest.mark.integration
PASSWORD = "vErY-sEcReT-rtsp-pw"  # pragma: allowlist secret
# Runs as the other user: every /proc/<pid>/cmdline and environ it can open.
SNOOP = """
import json, os
seen = {"cmdlines": [], "environ": []}
for pid in filter(str.isdigit, os.listdir("/proc")):
    for name, key in (("cmdline", "cmdlines"), ("environ", "environ")):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                seen[key].append(f.read().replace(b"\\0", b" ").decode("utf-8", "replace"))
        except OSError:
            pass
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspServer]:
    reason = gstreamer_missing()
    if reason:
        pytest.skip(reason)
    server = RtspServer(password=PASSWORD)
    server.start()
    yield server
    server.stop()


def _snoop_as_nobody() -> dict[str, list[str]]:
    out = subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", SNOOP],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    seen: dict[str, list[str]] = json.loads(out)
    return seen


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to act as nobody"
)
def test_another_user_sees_no_rtsp_password_while_the_camera_streams(camera: RtspServer) -> None:
    login = RtspLogin(username="viewer", password=SecretStr(PASSWORD))
    settings = PipelineSettings(sink=SinkSettings(kind=SinkKind.FAKESINK))
    argv = build_argv("cam-secure", camera.url("secure"), login, Codec.H264, settings, run=1)

    async def stream_and_snoop() -> tuple[int, dict[str, list[str]]]:
        child = await spawn_process(argv, dict(os.environ), secret_input(login))
        frames, deadline = 0, time.monotonic() + 20
        while frames < 5 and time.monotonic() < deadline:  # logged in: frames flow
            line = await asyncio.wait_for(child.readline(), timeout=20)
            if not line:
                break
            frames += isinstance(parse_line(line.decode(errors="replace")), Frame)
        seen = await asyncio.to_thread(_snoop_as_nobody)
        child.interrupt()
        await asyncio.wait_for(child.wait(), timeout=10)
        return frames, seen

    frames, seen = asyncio.run(stream_and_snoop())
    assert frames >= 5, "the camera refused the login or sent nothing"
    assert any("gst_child.py" in c and "rtspsrc" in c for c in seen["cmdlines"])  # it looked
    # The test camera server takes the password on its own command line: not the proxy.
    proxy_side = [c for c in seen["cmdlines"] if "rtsp_server.py" not in c]
    assert not [c for c in proxy_side if PASSWORD in c]
    assert not [e for e in seen["environ"] if PASSWORD in e]
