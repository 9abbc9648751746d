"""Fixtures for the proxy tests: a real RTSP server (gst-rtsp-server, system python3-gi)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PASSWORD = "pa ss!w0rd"  # a space and a '!' on purpose: gst-launch must not re-split it


def gstreamer_missing() -> str | None:
    """Why the live tests cannot run here, or None. Only a genuinely absent GStreamer skips."""
    if shutil.which("gst-launch-1.0") is None:
        return "gst-launch-1.0 is not installed (make system-deps)"
    return None


class RtspServer:
    """The test camera server as a child process; can be stopped and restarted on its port."""

    def __init__(self, password: str = PASSWORD) -> None:
        self.password = password
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port),
             "--password", self.password],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # blocks until it listens (or dies)
        if not line.startswith("READY "):
            _, err = self._process.communicate(timeout=5)
            raise RuntimeError(f"RTSP test server did not start: {line!r} {err[-2000:]}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def freeze(self) -> None:
        """A link that drops without a FIN: connections stay open, nothing flows."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"


@pytest.fixture(scope="module")
def rtsp_server() -> Iterator[RtspServer]:
    reason = gstreamer_missing()
    if reason:
        pytest.skip(reason)
    server = RtspServer()
    server.start()
    yield server
    server.stop()
