"""Health as Prometheus text exposition (format 0.0.4), served on 127.0.0.1 only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from facewatch_tools.proxy.health import CameraSnapshot, CameraState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# name, type, help, value of one camera
_METRICS: list[tuple[str, str, str, Callable[[CameraSnapshot], float | None]]] = [
    ("facewatch_proxy_camera_up", "gauge",
     "1 while frames flow from the camera to its sink, else 0.", lambda c: float(c.up)),
    ("facewatch_proxy_camera_restarts_total", "counter",
     "Pipeline restarts since the proxy started.", lambda c: float(c.restarts)),
    ("facewatch_proxy_camera_frames_total", "counter",
     "Frames (access units) passed to the sink.", lambda c: float(c.frames)),
    ("facewatch_proxy_camera_bytes_total", "counter",
     "Video bytes passed to the sink.", lambda c: float(c.bytes)),
    ("facewatch_proxy_camera_last_frame_timestamp_seconds", "gauge",
     "Unix time of the last frame (absent before the first).", lambda c: c.last_frame_at),
    ("facewatch_proxy_camera_bitrate_bits_per_second", "gauge",
     "Video bitrate over the last window.", lambda c: c.bitrate_bps),
]  # fmt: skip


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{int(value)}"


def render(cameras: list[CameraSnapshot]) -> str:
    """The exposition text. Labels are camera id, site and state only: never a URL."""
    lines: list[str] = []
    for name, kind, help_text, value_of in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for cam in cameras:
            value = value_of(cam)
            if value is not None:
                labels = f'camera="{_label(cam.camera_id)}",site="{_label(cam.site)}"'
                lines.append(f"{name}{{{labels}}} {_number(value)}")
    name = "facewatch_proxy_camera_state"
    lines += [f"# HELP {name} 1 for the camera's current supervisor state.", f"# TYPE {name} gauge"]
    for cam in cameras:
        for state in CameraState:
            labels = (
                f'camera="{_label(cam.camera_id)}",site="{_label(cam.site)}",state="{state.value}"'
            )
            lines.append(f"{name}{{{labels}}} {int(cam.state is state)}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:port (port 0 picks a free one) in a daemon thread."""

    def __init__(self, snapshot: Callable[[], list[CameraSnapshot]], port: int) -> None:
        snapshot_fn = snapshot

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served")
                    return
                body = render(snapshot_fn()).encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds would drown the journal

        # Loopback only: health must not be reachable from the office network.
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
