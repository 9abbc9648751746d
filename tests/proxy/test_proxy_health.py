from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from facewatch_tools.proxy.health import CameraSnapshot, CameraState, HealthBoard
from facewatch_tools.proxy.prometheus import MetricsServer, render


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _board() -> tuple[HealthBoard, Clock]:
    clock = Clock()
    board = HealthBoard("hq", stall_after=5, window=10, monotonic=clock,
                        wall=lambda: 1_700_000_000 + clock.now)  # fmt: skip
    board.add("cam-1", "rtsp://10.0.0.5/s1")
    board.add("cam-2", "rtsp://10.0.0.6/s1")
    return board, clock


def _cam(board: HealthBoard, camera_id: str) -> CameraSnapshot:
    return next(c for c in board.snapshot() if c.camera_id == camera_id)


def test_up_only_while_frames_are_fresh_and_bitrate_over_the_window() -> None:
    board, clock = _board()
    assert not _cam(board, "cam-1").up and _cam(board, "cam-1").state is CameraState.STARTING
    for _ in range(10):
        board.frame("cam-1", 1000)
        clock.now += 1
    cam = _cam(board, "cam-1")
    assert cam.up and cam.frames == 10 and cam.bytes == 10_000
    assert cam.bitrate_bps == pytest.approx(10_000 * 8 / 10)
    assert cam.last_frame_at == 1_700_000_000 + 109
    clock.now += 5.5  # the last frame is now older than stall_after
    cam = _cam(board, "cam-1")
    assert not cam.up and cam.state is CameraState.STREAMING
    assert cam.bitrate_bps == pytest.approx(4 * 1000 * 8 / 10)  # frames older than 10 s dropped


def test_ended_counts_restarts_keeps_the_error_and_a_frame_clears_it() -> None:
    board, _ = _board()
    board.frame("cam-1", 500)
    board.ended("cam-1", "rtsp://10.0.0.5/s1: connection to the camera lost", restarting=True)
    cam = _cam(board, "cam-1")
    assert (cam.state, cam.up, cam.restarts, cam.bitrate_bps) == (CameraState.RETRYING, False, 1, 0)
    assert cam.last_error == "rtsp://10.0.0.5/s1: connection to the camera lost"
    board.starting("cam-1")
    board.frame("cam-1", 500)
    assert _cam(board, "cam-1").last_error is None
    board.ended("cam-1", None, restarting=False)
    cam = _cam(board, "cam-1")
    assert (cam.state, cam.restarts) == (CameraState.STOPPED, 1)


def test_prometheus_text_format() -> None:
    board, clock = _board()
    board.frame("cam-1", 1250)
    clock.now += 1
    board.ended("cam-2", "x", restarting=True)
    text = render(board.snapshot())
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE facewatch_proxy_camera_up gauge" in lines
    assert "# TYPE facewatch_proxy_camera_restarts_total counter" in lines
    assert 'facewatch_proxy_camera_up{camera="cam-1",site="hq"} 1' in lines
    assert 'facewatch_proxy_camera_up{camera="cam-2",site="hq"} 0' in lines
    assert 'facewatch_proxy_camera_restarts_total{camera="cam-2",site="hq"} 1' in lines
    assert 'facewatch_proxy_camera_bytes_total{camera="cam-1",site="hq"} 1250' in lines
    assert 'facewatch_proxy_camera_bitrate_bits_per_second{camera="cam-1",site="hq"} 1000' in lines
    assert (
        'facewatch_proxy_camera_last_frame_timestamp_seconds{camera="cam-1",site="hq"} '
        "1700000100" in lines
    )
    # no timestamp before the first frame
    stamp = 'facewatch_proxy_camera_last_frame_timestamp_seconds{camera="cam-2"'
    assert not any(line.startswith(stamp) for line in lines)
    assert 'facewatch_proxy_camera_state{camera="cam-2",site="hq",state="retrying"} 1' in lines
    assert 'facewatch_proxy_camera_state{camera="cam-2",site="hq",state="streaming"} 0' in lines
    assert "rtsp://" not in text  # URLs never become labels
    # every sample line: name{labels} value
    for line in lines:
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.count("{") == 1 and name.endswith("}")


def test_label_values_are_escaped() -> None:
    snap = CameraSnapshot("a\"b\\c\nd", "hq", "u", CameraState.STARTING, False, 0, 0, 0, None, 0.0,
                          None)  # fmt: skip
    assert 'camera="a\\"b\\\\c\\nd"' in render([snap])


def test_metrics_server_serves_loopback_only() -> None:
    board, _ = _board()
    board.frame("cam-1", 10)
    server = MetricsServer(board.snapshot, port=0)
    server.start()
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'facewatch_proxy_camera_up{camera="cam-1",site="hq"} 1' in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert err.value.code == 404
    finally:
        server.stop()
