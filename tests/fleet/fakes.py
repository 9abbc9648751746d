"""In-memory fakes of the watchdog's own ports (not of AWS clients)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from facewatch.fleet.health import CameraHealthChanged
from facewatch.fleet.watchdog import HealthRecord, ProcessorView, StreamMissingError


class FakeFragments:
    def __init__(self) -> None:
        self.last: dict[str, datetime | None] = {}
        self.missing: set[str] = set()

    def latest_fragment(
        self, stream_name: str, since: datetime, until: datetime
    ) -> datetime | None:
        if stream_name in self.missing:
            raise StreamMissingError(stream_name)
        if stream_name == "broken":
            raise RuntimeError("endpoint down")
        last = self.last.get(stream_name)
        return last if last is not None and since <= last <= until else None


class FakeProcessors:
    def __init__(self) -> None:
        self.status: dict[str, str | None] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_start = False

    def describe(self, name: str) -> ProcessorView:
        return ProcessorView(name=name, status=self.status.get(name))

    def start(self, name: str) -> None:
        self.calls.append(("start", name))
        if self.fail_start:
            raise RuntimeError("ThrottlingException")
        self.status[name] = "STARTING"

    def stop(self, name: str) -> None:
        self.calls.append(("stop", name))
        self.status[name] = "STOPPED"

    def recreate(self, name: str) -> None:
        self.calls.append(("recreate", name))


class FakeStore:
    def __init__(self) -> None:
        self.current: dict[str, HealthRecord] = {}
        self.history: list[HealthRecord] = []

    def load(self, camera_ids: Sequence[str]) -> dict[str, HealthRecord]:
        return {c: self.current[c] for c in camera_ids if c in self.current}

    def save(self, record: HealthRecord, changed: bool) -> None:
        self.current[record.camera_id] = record
        if changed:
            self.history.append(record)


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[CameraHealthChanged] = []
        self.reject: set[str] = set()

    def publish(self, events: Sequence[CameraHealthChanged]) -> list[bool]:
        flags = [e.camera_id not in self.reject for e in events]
        self.events.extend(e for e, ok in zip(events, flags, strict=True) if ok)
        return flags
