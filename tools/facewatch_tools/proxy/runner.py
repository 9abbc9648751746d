"""The proxy of one site: every camera's supervisor, the heartbeat and the credential refresh,
started together and stopped together (SIGTERM -> EOS to every pipeline -> exit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from facewatch_tools.proxy.kvs_credentials import REFRESH
from facewatch_tools.proxy.supervisor import CameraSupervisor, Sleep

logger = logging.getLogger(__name__)


class Heartbeat(Protocol):
    def publish(self) -> bool: ...


class CredentialFile(Protocol):
    def write(self) -> None: ...
    def remove(self) -> None: ...


class ProxyRunner:
    def __init__(
        self,
        supervisors: list[CameraSupervisor],
        *,
        heartbeat: Heartbeat | None = None,
        heartbeat_interval: float = 60.0,
        kvs_credentials: CredentialFile | None = None,
        sleep: Sleep = asyncio.sleep,
        stop_grace: float = 15.0,
    ) -> None:
        self.supervisors = supervisors
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._kvs_credentials = kvs_credentials
        self._sleep = sleep
        self._stop_grace = stop_grace

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop every pipeline cleanly (kill after the grace)."""
        if self._kvs_credentials is not None:
            # Before any kvssink starts: it reads the file once at start.
            await asyncio.to_thread(self._kvs_credentials.write)
        cameras = [asyncio.create_task(s.run(), name=s.camera_id) for s in self.supervisors]
        helpers = []
        if self._heartbeat is not None:
            helpers.append(
                asyncio.create_task(self._every(self._heartbeat_interval, self._heartbeat.publish))
            )
        if self._kvs_credentials is not None:
            helpers.append(
                asyncio.create_task(
                    self._every(REFRESH.total_seconds(), self._refresh_credentials, first=False)
                )
            )
        logger.info("proxy: %d camera(s) supervised", len(cameras))
        await stop.wait()
        logger.info("proxy: stopping every pipeline (EOS)")
        for supervisor in self.supervisors:
            supervisor.stop()
        if cameras:
            _, pending = await asyncio.wait(cameras, timeout=self._stop_grace)
            for supervisor in self.supervisors:
                if any(t.get_name() == supervisor.camera_id for t in pending):
                    supervisor.kill()
            if pending:
                await asyncio.wait(pending)
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._heartbeat is not None:
            await asyncio.to_thread(self._heartbeat.publish)  # the final state, all down
        if self._kvs_credentials is not None:
            self._kvs_credentials.remove()
        logger.info("proxy: stopped")

    def _refresh_credentials(self) -> bool:
        assert self._kvs_credentials is not None
        try:
            self._kvs_credentials.write()
        except Exception as exc:  # keep streaming on the current file; retry next time
            logger.error("kvssink credentials not refreshed: %s", exc)
            return False
        return True

    async def _every(self, interval: float, action: Callable[[], bool], first: bool = True) -> None:
        if not first:
            await self._sleep(interval)
        while True:
            await _call(action)
            await self._sleep(interval)


async def _call(action: Callable[[], bool]) -> bool:
    # boto3 calls block: keep them off the event loop that reads every pipeline.
    return await asyncio.to_thread(action)
