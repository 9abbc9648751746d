"""The local stack starts and stops cleanly and two run side by side without colliding."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.local import LocalStack

pytestmark = pytest.mark.integration


def _listening() -> dict[int, str]:
    """Listening TCP sockets of this machine: port -> local address (hex, /proc/net/tcp*)."""
    found = {}
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].rsplit(":", 1)
            if fields[3] == "0A":  # LISTEN
                found[int(port, 16)] = address
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _children() -> list[str]:
    task = Path(f"/proc/{os.getpid()}/task")
    return [c for t in task.iterdir() for c in (t / "children").read_text().split()]


def test_starts_on_loopback_and_stops_without_leftovers() -> None:
    threads_before = set(threading.enumerate())
    children_before = _children()
    stack = LocalStack().start()
    ports = [_port(stack.endpoint.url), _port(stack.slack.base_url)]
    ports += [_port(api.url) for api in stack.apis.values()]  # the clip endpoint's HTTP API
    assert len(ports) == 3
    listening = _listening()
    try:
        for port in ports:
            assert listening[port] == "0100007F"  # 127.0.0.1 only
    finally:
        stack.stop()
    listening = _listening()
    assert all(port not in listening for port in ports)
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == []
    assert _children() == children_before


def test_two_stacks_side_by_side_do_not_collide() -> None:
    with LocalStack() as first, LocalStack() as second:
        assert first.endpoint.url != second.endpoint.url
        assert first.account_id != second.account_id
        assert first.stack_name == second.stack_name  # same names, separate accounts
        arn = first.video_stream_arn("cam-a")
        records = [frame_record("cam-a", 1795000000.0 + i, [FaceSpec()], arn=arn) for i in range(2)]
        first.put_records([(json.dumps(r).encode(), "cam-a") for r in records])
        first.pump()
        second.pump()
        assert [r.camera_id for r in first.incidents()] == ["cam-a"]
        assert second.incidents() == []
        assert second.alert_events() == []
