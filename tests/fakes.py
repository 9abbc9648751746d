"""In-memory fakes of facewatch's own small interfaces (not of AWS clients)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from facewatch.alerts.bus import BusEvent, PublishFailure
from facewatch.alerts.event import CameraLocation
from facewatch.clips.hls import ClipLink
from facewatch.detections.incidents import CameraState, IncidentState
from facewatch.detections.rejects import RejectedRecord
from facewatch.detections.store import CommitConflictError, PendingAlerts
from facewatch.timestamps import to_datetime


@dataclass
class FakeStore:
    states: dict[str, CameraState] = field(default_factory=dict)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    alert_state: dict[str, str] = field(default_factory=dict)
    writes: int = 0
    fail_commits: int = 0  # the next N commits raise (a throttled table)
    before_commit: Callable[[], object] | None = None  # lets a test interleave another invocation
    pending_at: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = lambda: 0.0

    def load_state(self, camera_id: str) -> CameraState:
        return self.states.get(camera_id, CameraState(camera_id=camera_id))

    def commit(
        self,
        previous_version: int,
        state: CameraState,
        new_alerts: Sequence[IncidentState],
        extended: Sequence[IncidentState],
        locations: dict[str, CameraLocation | None],
    ) -> None:
        if self.before_commit:
            hook, self.before_commit = self.before_commit, None
            hook()
        if self.fail_commits:
            self.fail_commits -= 1
            raise RuntimeError("ProvisionedThroughputExceededException")
        self.writes += 1
        current = self.states.get(state.camera_id)
        if (current.version if current else 0) != previous_version:
            raise CommitConflictError(state.camera_id)
        self.states[state.camera_id] = state
        for incident in new_alerts:
            self.incidents[incident.incident_id] = incident
            self.alert_state[incident.incident_id] = "pending"
            self.pending_at[incident.incident_id] = self.clock()
        for incident in extended:
            self.incidents[incident.incident_id] = incident

    def pending_alerts(self, incident_ids: Sequence[str]) -> PendingAlerts:
        sent = {i for i in incident_ids if self.alert_state.get(i) == "sent"}
        pending = [self.incidents[i] for i in incident_ids if self.alert_state.get(i) == "pending"]
        return PendingAlerts(sent=sent, pending=pending)

    def mark_sent(self, incident: IncidentState, at: float, clip_status: str) -> None:
        self.writes += 1
        self.alert_state[incident.incident_id] = "sent"

    def pending_since(self, before: float) -> list[IncidentState]:
        return [
            self.incidents[i]
            for i, since in self.pending_at.items()
            if self.alert_state.get(i) == "pending" and since < before
        ]


@dataclass
class FakePublisher:
    published: list[BusEvent] = field(default_factory=list)
    calls: int = 0
    fail_next: int = 0  # the next N publish calls fail every event

    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            return [PublishFailure(e, "ThrottlingException") for e in events]
        self.published.extend(events)
        return []

    def incident_ids(self) -> list[str]:
        return [e.key for e in self.published]


@dataclass
class FakeClips:
    fail: bool = False
    calls: int = 0

    def hls_url(
        self,
        stream_arn: str,
        start: float,
        end: float | None,
        *,
        mode: Literal["LIVE_REPLAY", "ON_DEMAND"],
        expires_in: int,
        now: float,
    ) -> ClipLink:
        self.calls += 1
        if self.fail:
            raise RuntimeError("ResourceNotFoundException")
        return ClipLink(
            url=f"https://kvs.example/{mode}/{start}",
            start=to_datetime(start),
            expires_at=to_datetime(now + expires_in),
        )


@dataclass
class FakeRejects:
    kept: list[RejectedRecord] = field(default_factory=list)
    fail: bool = False

    def keep(self, records: Sequence[RejectedRecord]) -> None:
        if self.fail:
            raise RuntimeError("sqs unavailable")
        self.kept.extend(records)


@dataclass
class FakeMetrics:
    values: dict[str, float] = field(default_factory=dict)

    def add_metric(self, name: str, unit: object, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value
