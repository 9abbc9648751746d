"""In-memory fakes of facewatch's own small interfaces (not of AWS clients)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from facewatch.alerts.bus import BusEvent, PublishFailure
from facewatch.clips.hls import ClipLink
from facewatch.detections.incidents import CameraState, IncidentState
from facewatch.detections.rejects import RejectedRecord
from facewatch.detections.store import (
    Changes,
    Claim,
    CommitConflictError,
    IncidentExistsError,
    IncidentMissingError,
    Kind,
    Outstanding,
)
from facewatch.timestamps import to_datetime


@dataclass
class FakeStore:
    """The incident store's semantics in memory: optimistic state versions, conditional item
    creation, claims with leases. Refuses what DynamoDB's conditions refuse."""

    states: dict[str, CameraState] = field(default_factory=dict)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: int = 0
    fail_commits: int = 0  # the next N commits raise (a throttled table)
    before_commit: Callable[[], object] | None = None  # lets a test interleave another invocation
    clock: Callable[[], float] = lambda: 0.0

    @property
    def alert_state(self) -> dict[str, str]:
        return {i: item["alertState"] for i, item in self.items.items()}

    def load_state(self, camera_id: str) -> CameraState:
        return self.states.get(camera_id, CameraState(camera_id=camera_id))

    def recall(self, camera_id: str, times: Sequence[float], window: float) -> list[IncidentState]:
        return [
            self.incidents[i]
            for i, item in self.items.items()
            if item["status"] != "merged"
            and self.incidents[i].camera_id == camera_id
            and any(
                self.incidents[i].first_seen - window <= t <= self.incidents[i].last_seen + window
                for t in times
            )
        ]

    def get_incident(self, incident_id: str) -> IncidentState | None:
        while incident_id in self.items:
            item = self.items[incident_id]
            if item["status"] != "merged":
                return self.incidents[incident_id]
            incident_id = item["mergedInto"]
        return None

    def commit(
        self, previous_version: int, state: CameraState, changes: Changes, claim: Claim
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
        exists = [
            i.incident_id
            for i in changes.new_alerts
            if i.incident_id in self.items
            and self.items[i.incident_id].get("alertClaim") != claim.token
        ]
        if exists:
            raise IncidentExistsError(exists)
        updated = [*changes.extended, *(i for i, _ in changes.absorbed)]
        missing = [i.incident_id for i in updated if i.incident_id not in self.items]
        if missing:
            raise IncidentMissingError(missing)
        self.states[state.camera_id] = state
        for incident in changes.new_alerts:
            self.incidents[incident.incident_id] = incident
            self.items[incident.incident_id] = {
                "alertState": "claimed",
                "alertClaim": claim.token,
                "alertClaimUntil": claim.until,
                "status": "open",
                "pendingSince": self.clock(),
            }
        for incident in changes.extended:
            self.incidents[incident.incident_id] = incident
        for incident, survivor in changes.absorbed:
            self.items[incident.incident_id] |= {
                "status": "merged",
                "mergedInto": survivor,
                "mergeState": "claimed",
                "mergeClaim": claim.token,
                "mergeClaimUntil": claim.until,
                "pendingSince": self.clock(),
            }

    def _outstanding(self, incident_id: str) -> Outstanding:
        item = self.items[incident_id]
        return Outstanding(
            incident=self.incidents[incident_id],
            alert_state=item["alertState"],
            alert_claim=item.get("alertClaim"),
            alert_claim_until=item.get("alertClaimUntil", 0.0),
            status=item["status"],
            merged_into=item.get("mergedInto"),
            merge_state=item.get("mergeState"),
            merge_claim=item.get("mergeClaim"),
            merge_claim_until=item.get("mergeClaimUntil", 0.0),
        )

    def outstanding(self, incident_ids: Sequence[str]) -> list[Outstanding]:
        return [self._outstanding(i) for i in dict.fromkeys(incident_ids) if i in self.items]

    def claim(self, incident_id: str, kind: Kind, claim: Claim, now: float) -> Outstanding | None:
        item = self.items.get(incident_id)
        prefix = "alert" if kind == "alert" else "merge"
        if item is None:
            return None
        state = item.get(f"{prefix}State")
        if not (state == "pending" or (state == "claimed" and item[f"{prefix}ClaimUntil"] < now)):
            return None
        self.writes += 1
        item |= {
            f"{prefix}State": "claimed",
            f"{prefix}Claim": claim.token,
            f"{prefix}ClaimUntil": claim.until,
        }
        return self._outstanding(incident_id)

    def release(self, incident_id: str, kind: Kind, token: str) -> None:
        item = self.items[incident_id]
        prefix = "alert" if kind == "alert" else "merge"
        if item.get(f"{prefix}Claim") == token:
            item[f"{prefix}State"] = "pending"
            item.pop(f"{prefix}Claim")

    def settle(
        self,
        incident: IncidentState,
        kind: Kind,
        token: str,
        outcome: Literal["sent", "cancelled"],
        *,
        at: float,
        clip_status: str = "",
    ) -> bool:
        item = self.items[incident.incident_id]
        prefix = "alert" if kind == "alert" else "merge"
        if item.get(f"{prefix}Claim") != token:
            return False
        self.writes += 1
        item[f"{prefix}State"] = outcome
        item.pop(f"{prefix}Claim")
        return True

    def pending_since(self, before: float) -> list[str]:
        return [
            i
            for i, item in self.items.items()
            if not self._outstanding(i).settled and item["pendingSince"] < before
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
