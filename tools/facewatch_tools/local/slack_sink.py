"""A Slack incoming-webhook stand-in on 127.0.0.1: records every payload; can be told to fail.

``fail_next(status=429, retry_after=0)`` makes the next request(s) answer like Slack under
rate limiting (429 with Retry-After) or an outage (500); otherwise it answers ``200 ok``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class SlackPost:
    path: str
    received_at: float
    payload: dict[str, Any]

    @property
    def route(self) -> str:
        """The last path segment: the sink serves one URL per route (``/hooks/<route>``)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def text(self) -> str:
        """Everything a reader would read: the fallback text and every text of every block."""
        parts: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "text" and isinstance(value, str):
                        parts.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.payload)
        return "\n".join(parts)


@dataclass
class _Failure:
    status: int
    retry_after: int | None


@dataclass
class SlackSink:
    clock: Callable[[], float] = time.time
    posts: list[SlackPost] = field(default_factory=list)
    rejected: int = 0
    _failures: list[_Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("sink not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def url(self, route: str = "default") -> str:
        return f"{self.base_url}/hooks/{route}"

    def fail_next(
        self, status: int = 500, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self._failures += [_Failure(status, retry_after) for _ in range(times)]

    def start(self) -> SlackSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with sink._lock:
                    failure = sink._failures.pop(0) if sink._failures else None
                if failure is not None:
                    sink.rejected += 1
                    self.send_response(failure.status)
                    if failure.retry_after is not None:
                        self.send_header("Retry-After", str(failure.retry_after))
                    body = b"rate_limited" if failure.status == 429 else b"server_error"
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    self._answer(400, b"invalid_payload")
                    return
                with sink._lock:
                    sink.posts.append(SlackPost(self.path, sink.clock(), payload))
                self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the sink keeps its own record; no access log on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="facewatch-slack-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
