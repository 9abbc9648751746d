"""The ``gst-launch-1.0`` child process behind a small interface (tests substitute a fake)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from typing import Protocol

# -v caps lines can be long (SPS/PPS in the SDP); the default 64 KiB would raise.
LINE_LIMIT = 1024 * 1024


class Child(Protocol):
    async def readline(self) -> bytes:
        """Next line of merged stdout/stderr; b"" once the child closed its output."""
        ...

    def interrupt(self) -> None:
        """Ask for a clean end: with ``-e`` gst-launch sends EOS so sinks finalise."""
        ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...


class Spawner(Protocol):
    async def __call__(
        self, argv: list[str], env: Mapping[str, str], secret: bytes | None = None
    ) -> Child:
        """Start the child; ``secret`` (the camera login) goes to its stdin, never its argv."""
        ...


class ProcessChild:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def readline(self) -> bytes:
        assert self._process.stdout is not None
        try:
            return await self._process.stdout.readline()
        except ValueError:  # a line over LINE_LIMIT: skip it rather than die
            return b"\n"

    def interrupt(self) -> None:
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self._process.returncode is None:
            self._process.kill()

    async def wait(self) -> int:
        return await self._process.wait()


async def spawn_process(
    argv: list[str], env: Mapping[str, str], secret: bytes | None = None
) -> Child:
    process = await asyncio.create_subprocess_exec(
        *argv,
        # A pipe only this child holds: the login never shows in argv or environment.
        stdin=asyncio.subprocess.DEVNULL if secret is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        limit=LINE_LIMIT,
        # Own process group: a terminal's Ctrl-C reaches only the proxy, which then stops
        # every child cleanly (EOS) instead of all of them dying mid-fragment.
        start_new_session=True,
    )
    if secret is not None:
        assert process.stdin is not None
        process.stdin.write(secret)
        await process.stdin.drain()
        process.stdin.close()
    return ProcessChild(process)
