"""A Slack incoming webhook on 127.0.0.1 for tests: scripted answers, rate limiting, hangs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class VirtualClock:
    """Shared by the notifier (sleep/clock) and the server (rate limit): no real waiting."""

    now: float = 1_000.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the server stops): a client read timeout


@dataclass
class Post:
    path: str
    payload: dict[str, Any]
    status: int


class LocalWebhook:
    def __init__(self, clock: VirtualClock | None = None, per_second: float = 1.0) -> None:
        self.posts: list[Post] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.clock = clock  # set: answer 429 Retry-After: 1 above ``per_second`` per path
        self.min_gap = 1.0 / per_second
        self._last_accepted: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def script(self, path: str, *answers: Answer) -> None:
        self.scripts[f"/{path.lstrip('/')}"] = list(answers)

    def accepted(self, path: str | None = None) -> list[dict[str, Any]]:
        return [
            p.payload
            for p in self.posts
            if p.status == 200 and (path is None or p.path == f"/{path.lstrip('/')}")
        ]

    def _answer(self, path: str) -> Answer:
        with self._lock:
            scripted = self.scripts.get(path)
            if scripted:
                return scripted.pop(0)
            if self.clock is not None:
                last = self._last_accepted.get(path)
                if last is not None and self.clock.now - last < self.min_gap:
                    return Answer(429, "rate_limited", {"Retry-After": "1"})
                self._last_accepted[path] = self.clock.now
            return Answer()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                answer = webhook._answer(self.path)
                if answer.hang:
                    webhook._stopping.wait()
                    return
                with webhook._lock:
                    webhook.posts.append(Post(self.path, payload, answer.status))
                body = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    @contextmanager
    def running(self) -> Iterator[LocalWebhook]:
        thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._server.shutdown()
            self._server.server_close()
