"""A Slack stand-in on 127.0.0.1: incoming webhooks and the Web API's chat methods.

Webhooks: ``/hooks/<route>`` records every payload and answers ``200 ok``.
Web API (``api_url``, the WebClient's base_url): ``chat.postMessage`` and ``chat.update`` with a
bearer token, answering as Slack does (``ok``, ``channel``, ``ts``; ``not_authed``,
``invalid_auth``, ``channel_not_found``, ``message_not_found``, ``no_text``). ``messages`` holds
each message with every version of it (the last is how it reads now) and when each arrived.
``fail_next(status=429, retry_after=0)`` makes the next request(s) answer like Slack under
rate limiting (429 with Retry-After) or an outage (500).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from facewatch_tools.local.loopback import LoopbackServer


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
class SinkMessage:
    """A Web API message: where it is, its thread, and every version of it (the last is now)."""

    channel: str
    ts: str
    thread_ts: str | None
    versions: list[dict[str, Any]] = field(default_factory=list)
    changed_at: list[float] = field(default_factory=list)  # the sink's clock, one per version

    @property
    def current(self) -> SlackPost:
        return SlackPost(f"/api/{self.channel}/{self.ts}", 0.0, self.versions[-1])


@dataclass
class _Failure:
    status: int
    retry_after: int | None


@dataclass
class SlackSink:
    clock: Callable[[], float] = time.time
    posts: list[SlackPost] = field(default_factory=list)
    rejected: int = 0
    token: str = field(default_factory=lambda: f"xoxb-local-{secrets.token_hex(8)}")
    messages: dict[tuple[str, str], SinkMessage] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _next_ts: int = 0
    _loopback: LoopbackServer = field(default_factory=LoopbackServer)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return self._loopback.url

    def url(self, route: str = "default") -> str:
        return f"{self.base_url}/hooks/{route}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def top_level(self) -> list[SinkMessage]:
        """The Web API messages that are not thread replies, in posting order."""
        return [m for m in self.messages.values() if m.thread_ts is None]

    def replies(self, message: SinkMessage) -> list[SinkMessage]:
        return [m for m in self.messages.values() if m.thread_ts == message.ts]

    def _refusal(self, auth: str, payload: dict[str, Any]) -> str | None:
        if not auth.startswith("Bearer "):
            return "not_authed"
        if auth.removeprefix("Bearer ") != self.token:
            return "invalid_auth"
        if not str(payload.get("channel") or "").startswith(("C", "G")):
            return "channel_not_found"
        if not payload.get("text") and not payload.get("blocks"):
            return "no_text"
        return None

    def _api(self, method: str, auth: str, payload: dict[str, Any]) -> dict[str, Any]:
        refusal = self._refusal(auth, payload)
        if refusal is not None:
            return {"ok": False, "error": refusal}
        channel = str(payload["channel"])
        body: dict[str, Any] = {k: payload[k] for k in ("text", "blocks") if k in payload}
        with self._lock:
            if method == "chat.postMessage":
                return self._post(channel, payload, body)
            if method == "chat.update":
                found = self.messages.get((channel, str(payload.get("ts"))))
                if found is None:
                    return {"ok": False, "error": "message_not_found"}
                found.versions.append(body)
                found.changed_at.append(self.clock())
                return {"ok": True, "channel": channel, "ts": found.ts, "text": body.get("text")}
        return {"ok": False, "error": "unknown_method"}

    def _post(self, channel: str, payload: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        thread = payload.get("thread_ts")
        if thread is not None and (channel, str(thread)) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        self._next_ts += 1
        ts = f"{int(self.clock())}.{self._next_ts:06d}"
        self.messages[(channel, ts)] = SinkMessage(
            channel, ts, str(thread) if thread else None, [body], [self.clock()]
        )
        # The path ends in the channel: ``route`` names where it went, as for webhooks.
        self.posts.append(SlackPost(f"/api/chat.postMessage/{channel}", self.clock(), payload))
        return {"ok": True, "channel": channel, "ts": ts, "message": body}

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
                if self.path.startswith("/api/"):
                    method = self.path.removeprefix("/api/").split("?", 1)[0]
                    answer = sink._api(method, self.headers.get("Authorization", ""), payload)
                    body = json.dumps(answer).encode()
                    self.send_response(200)  # the Web API answers errors as ok=false, not HTTP
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
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

        self._loopback.start(Handler, "facewatch-slack-sink")
        return self

    def stop(self) -> None:
        self._loopback.stop()
