"""Camera health watchdog: a pure state machine plus the adapters it needs.

Each tick (every minute) the watchdog observes every registered camera (latest KVS fragment,
stream-processor status, whether its schedule says recognition runs now), decides with
:func:`decide` and acts: starts processors that should run (with exponential backoff when they
keep failing), stops those outside their hours (the main cost lever), recreates a processor stuck
in STARTING for more than two minutes. Every change of state is published as ``Camera Health
Changed`` and stored (current item + history item). Publishing comes first: if it fails the
state is not stored and the next tick publishes the change again (at least once, never lost).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from facewatch.alerts.bus import BusEvent, EventBridgePublisher
from facewatch.fleet.health import DETAIL_TYPE as HEALTH_DETAIL_TYPE
from facewatch.fleet.health import (
    CameraHealth,
    CameraHealthChanged,
    RecognitionState,
    VideoState,
    overall,
)
from facewatch.fleet.inventory import Schedule, Weekday
from facewatch.fleet.registry import CameraInfo
from facewatch.settings import EnvSettings

_WEEKDAYS = list(Weekday)  # Monday first, like datetime.weekday()
_END_OF_DAY = time(23, 59, 59)


# ---- schedules --------------------------------------------------------------------------------
def schedule_active(schedule: Schedule | None, time_zone: str, now: datetime) -> bool:
    """Whether recognition should run at ``now`` (site-local days and hours; no schedule = always).

    An end before the start spans midnight: the window belongs to the day it starts on.
    """
    if schedule is None:
        return True
    local = now.astimezone(ZoneInfo(time_zone))
    today = _WEEKDAYS[local.weekday()]
    yesterday = _WEEKDAYS[(local.weekday() - 1) % 7]
    moment = local.time()
    if schedule.start <= schedule.end:
        end_ok = moment <= schedule.end if schedule.end == _END_OF_DAY else moment < schedule.end
        return today in schedule.days and schedule.start <= moment and end_ok
    return (today in schedule.days and moment >= schedule.start) or (
        yesterday in schedule.days and moment < schedule.end
    )


def weekly_hours(schedule: Schedule | None) -> float:
    """Hours a week the schedule runs (168 without one); used by the cost estimate."""
    if schedule is None:
        return 168.0

    def seconds(moment: time) -> int:
        if moment == _END_OF_DAY:
            return 24 * 3600
        return moment.hour * 3600 + moment.minute * 60 + moment.second

    span = seconds(schedule.end) - seconds(schedule.start)
    if span <= 0:
        span += 24 * 3600
    return span * len(set(schedule.days)) / 3600


# ---- state machine ----------------------------------------------------------------------------
class Action(StrEnum):
    NONE = "NONE"
    START = "START"
    STOP = "STOP"
    RECREATE = "RECREATE"  # delete, create with the same settings, start


class ProcessorView(BaseModel):
    """What DescribeStreamProcessor said; ``status`` None = the processor does not exist."""

    model_config = ConfigDict(frozen=True)
    name: str
    status: str | None
    status_message: str | None = None


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True)
    now: datetime
    schedule_active: bool
    stream_exists: bool = True
    last_fragment_at: datetime | None = Field(
        default=None, description="Latest fragment seen within the offline window; None if none"
    )
    processor: ProcessorView | None = Field(default=None, description="None for sampler cameras")


class HealthRecord(BaseModel):
    """The stored state of one camera (PK=CAMERA#<cam>, SK=HEALTH)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    camera_id: str
    health: CameraHealth
    since: datetime = Field(description="When the current state began")
    active_since: datetime | None = Field(
        default=None, description="When the schedule last turned on (offline grace period)"
    )
    restart_attempts: int = 0
    next_restart_at: datetime | None = None
    starting_since: datetime | None = None
    checked_at: datetime

    def bookkeeping(self) -> tuple[object, ...]:
        """The fields whose change needs a write (not the check time or fragment time)."""
        return (
            self.health.video,
            self.health.recognition,
            self.health.processor_status,
            self.active_since,
            self.restart_attempts,
            self.next_restart_at,
            self.starting_since,
        )


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)
    offline_after: timedelta = timedelta(minutes=15)
    starting_timeout: timedelta = timedelta(minutes=2)
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_cap: timedelta = timedelta(minutes=30)

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next restart after ``attempts`` restarts: 1, 2, 4 ... 30 min."""
        return min(self.backoff_cap, self.backoff_base * (1 << max(0, min(attempts - 1, 20))))


@dataclass(frozen=True)
class Decision:
    record: HealthRecord
    action: Action
    changed: bool  # video, recognition or overall state differs from the previous record
    store: bool  # the record differs from the stored one in a way worth writing


@dataclass
class _Recognition:
    state: RecognitionState
    action: Action = Action.NONE
    reason: str = ""
    attempts: int = 0
    next_restart_at: datetime | None = None
    starting_since: datetime | None = None


_RECOVERING = {RecognitionState.RESTARTING, RecognitionState.RECREATING}
_OFF = {None, RecognitionState.IDLE, RecognitionState.NOT_APPLICABLE, RecognitionState.MISSING}


def _recognition(  # noqa: PLR0911 - one return per processor status reads best
    obs: Observation, prev: HealthRecord | None, policy: Policy
) -> _Recognition:
    proc = obs.processor
    if proc is None:
        return _Recognition(RecognitionState.NOT_APPLICABLE)
    if proc.status is None:
        return _Recognition(RecognitionState.MISSING, reason=f"processor {proc.name} not found")
    status = proc.status
    detail = f"processor {status}" + (f": {proc.status_message}" if proc.status_message else "")
    if not obs.schedule_active:
        if status in {"RUNNING", "STARTING"}:
            return _Recognition(RecognitionState.IDLE, Action.STOP, "outside its hours: stopping")
        return _Recognition(RecognitionState.IDLE, reason="outside its hours")
    attempts = prev.restart_attempts if prev else 0
    prev_state = prev.health.recognition if prev else None
    if status == "RUNNING":
        return _Recognition(RecognitionState.RUNNING, reason="processor RUNNING")
    due = prev.next_restart_at if prev else None
    if status == "STARTING":
        since = (prev.starting_since if prev else None) or obs.now
        if obs.now - since > policy.starting_timeout and (due is None or obs.now >= due):
            return _Recognition(
                RecognitionState.RECREATING,
                Action.RECREATE,
                f"STARTING for more than {policy.starting_timeout}: recreating",
                attempts + 1,
                obs.now + policy.backoff(attempts + 1),
                starting_since=obs.now,
            )
        state = prev_state if prev_state in _RECOVERING else RecognitionState.STARTING
        return _Recognition(
            state,
            reason=detail,
            attempts=attempts,
            next_restart_at=prev.next_restart_at if prev else None,
            starting_since=since,
        )
    if status == "STOPPED" and prev_state in _OFF:
        # The schedule just began (or the first look): a normal start, not a recovery.
        return _Recognition(
            RecognitionState.STARTING,
            Action.START,
            "hours begin: starting",
            next_restart_at=obs.now + policy.backoff(1),
            starting_since=obs.now,
        )
    if status in {"FAILED", "STOPPED"}:
        if due is None or obs.now >= due:
            return _Recognition(
                RecognitionState.RESTARTING,
                Action.START,
                f"{detail}; restart {attempts + 1}",
                attempts + 1,
                obs.now + policy.backoff(attempts + 1),
                starting_since=obs.now,
            )
        return _Recognition(
            RecognitionState.RESTARTING,
            reason=f"{detail}; next restart at {due.isoformat(timespec='seconds')}",
            attempts=attempts,
            next_restart_at=due,
        )
    # STOPPING / UPDATING: transitional; keep what we were doing.
    return _Recognition(
        prev_state or RecognitionState.STARTING,
        reason=detail,
        attempts=attempts,
        next_restart_at=prev.next_restart_at if prev else None,
        starting_since=prev.starting_since if prev else None,
    )


def _video(
    obs: Observation, prev: HealthRecord | None, policy: Policy
) -> tuple[VideoState, datetime | None, str]:
    """Video state, the schedule's active-since time (grace period) and a reason."""
    if not obs.stream_exists:
        return VideoState.MISSING, None, "KVS stream not found"
    if not obs.schedule_active:
        if obs.last_fragment_at is not None:
            return VideoState.ONLINE, None, "streaming outside its hours"
        return VideoState.OFF_SCHEDULE, None, "outside its hours"
    active_since = (prev.active_since if prev else None) or obs.now
    if obs.last_fragment_at is not None and obs.now - obs.last_fragment_at < policy.offline_after:
        return VideoState.ONLINE, active_since, "receiving video"
    minutes = int(policy.offline_after.total_seconds() // 60)
    if obs.now - active_since < policy.offline_after:
        # Just switched on (or first seen): give the camera the whole window before calling it
        # offline, so a schedule start or a deploy raises no false alarm.
        state = prev.health.video if prev and prev.health.video is VideoState.ONLINE else None
        return state or VideoState.OFF_SCHEDULE, active_since, "waiting for the first fragment"
    return VideoState.OFFLINE, active_since, f"no video fragment for {minutes} min"


def decide(camera_id: str, obs: Observation, prev: HealthRecord | None, policy: Policy) -> Decision:
    """Pure: the next record of one camera and what to do about its processor."""
    video, active_since, video_reason = _video(obs, prev, policy)
    rec = _recognition(obs, prev, policy)
    if rec.state in {RecognitionState.RUNNING, RecognitionState.IDLE}:
        rec.attempts, rec.next_restart_at, rec.starting_since = 0, None, None
    reasons = [r for r in (video_reason, rec.reason) if r]
    last_fragment = obs.last_fragment_at or (
        datetime.fromisoformat(prev.health.last_fragment_at.replace("Z", "+00:00"))
        if prev and prev.health.last_fragment_at
        else None
    )
    health = CameraHealth(
        video=video,
        recognition=rec.state,
        status=overall(video, rec.state),
        reason="; ".join(reasons)[:500],
        processor_status=obs.processor.status if obs.processor else None,
        last_fragment_at=_iso(last_fragment) if last_fragment else None,
    )
    changed = prev is None or (
        (prev.health.video, prev.health.recognition, prev.health.status)
        != (health.video, health.recognition, health.status)
    )
    record = HealthRecord(
        camera_id=camera_id,
        health=health,
        since=obs.now if changed or prev is None else prev.since,
        active_since=active_since,
        restart_attempts=rec.attempts,
        next_restart_at=rec.next_restart_at,
        starting_since=rec.starting_since,
        checked_at=obs.now,
    )
    store = changed or prev is None or record.bookkeeping() != prev.bookkeeping()
    return Decision(record=record, action=rec.action, changed=changed, store=store)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EVENT_CAMERA_FIELDS = {"camera_id", "site_id", "site_name", "zone", "display_name", "time_zone"}


def health_event(
    camera: CameraInfo, record: HealthRecord, prev: HealthRecord | None
) -> CameraHealthChanged:
    where = camera.model_dump(include=_EVENT_CAMERA_FIELDS)
    return CameraHealthChanged(
        **where,
        changed_at=_iso(record.since),
        previous=prev.health if prev else None,
        current=record.health,
    )


# ---- ports --------------------------------------------------------------------------------------
class FragmentProbe(Protocol):
    def latest_fragment(
        self, stream_name: str, since: datetime, until: datetime
    ) -> datetime | None:
        """Newest fragment's server time in [since, until]; None if none; raises StreamMissing."""


class ProcessorControl(Protocol):
    def describe(self, name: str) -> ProcessorView: ...
    def start(self, name: str) -> None: ...
    def stop(self, name: str) -> None: ...
    def recreate(self, name: str) -> None: ...


class HealthStore(Protocol):
    def load(self, camera_ids: Sequence[str]) -> dict[str, HealthRecord]: ...
    def save(self, record: HealthRecord, changed: bool) -> None: ...


class HealthPublisher(Protocol):
    def publish(self, events: Sequence[CameraHealthChanged]) -> list[bool]:
        """Publish; one flag per event, True when EventBridge accepted it."""


class StreamMissingError(Exception):
    """The camera's KVS stream does not exist."""


@dataclass
class TickSummary:
    cameras: int = 0
    changes: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    action_errors: int = 0
    observe_errors: int = 0
    unpublished: int = 0


@dataclass
class Watchdog:
    """One tick over every registered camera."""

    fragments: FragmentProbe
    processors: ProcessorControl
    store: HealthStore
    publisher: HealthPublisher
    policy: Policy = field(default_factory=Policy)
    workers: int = 8
    log: Callable[..., None] = field(default=lambda *_a, **_k: None)

    def tick(self, cameras: Iterable[CameraInfo], now: datetime) -> TickSummary:
        cams = list(cameras)
        summary = TickSummary(cameras=len(cams))
        previous = self.store.load([c.camera_id for c in cams])
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            observed = list(pool.map(lambda c: self._observe(c, now), cams))
        pending: list[tuple[CameraInfo, Decision]] = []
        for camera, obs in zip(cams, observed, strict=True):
            if obs is None:
                summary.observe_errors += 1
                continue
            prev = previous.get(camera.camera_id)
            decision = decide(camera.camera_id, obs, prev, self.policy)
            if decision.action is not Action.NONE:
                summary.actions[decision.action] = summary.actions.get(decision.action, 0) + 1
                if not self._act(camera, decision.action):
                    summary.action_errors += 1
            if decision.store:
                pending.append((camera, decision))
        changed = [(c, d) for c, d in pending if d.changed]
        events = [health_event(c, d.record, previous.get(c.camera_id)) for c, d in changed]
        accepted = (
            dict(
                zip([c.camera_id for c, _ in changed], self.publisher.publish(events), strict=True)
            )
            if events
            else {}
        )
        for camera, decision in pending:
            if decision.changed and not accepted.get(camera.camera_id, False):
                summary.unpublished += 1
                continue  # not stored: the next tick sees the change again and republishes
            self.store.save(decision.record, decision.changed)
            summary.changes += int(decision.changed)
        return summary

    def _observe(self, camera: CameraInfo, now: datetime) -> Observation | None:
        try:
            active = schedule_active(camera.schedule, camera.time_zone, now)
            processor = (
                self.processors.describe(camera.processor_name) if camera.processor_name else None
            )
            try:
                last = self.fragments.latest_fragment(
                    camera.stream_name, now - self.policy.offline_after, now
                )
                exists = True
            except StreamMissingError:
                last, exists = None, False
            return Observation(
                now=now,
                schedule_active=active,
                stream_exists=exists,
                last_fragment_at=last,
                processor=processor,
            )
        except Exception as exc:  # one broken camera must not stop the others' checks
            self.log("observe failed", camera_id=camera.camera_id, error=repr(exc))
            return None

    def _act(self, camera: CameraInfo, action: Action) -> bool:
        name = camera.processor_name
        if not name:
            return True
        handlers: Mapping[Action, Callable[[str], None]] = {
            Action.START: self.processors.start,
            Action.STOP: self.processors.stop,
            Action.RECREATE: self.processors.recreate,
        }
        try:
            handlers[action](name)
        except Exception as exc:  # the backoff in the record retries it on a later tick
            self.log(
                "processor action failed",
                camera_id=camera.camera_id,
                action=action,
                error=repr(exc),
            )
            return False
        return True


# ---- AWS adapters ---------------------------------------------------------------------------
class KvsFragmentProbe:
    """ListFragments on the stream's own data endpoint (GetDataEndpoint, cached per stream).

    ListFragments returns fragments in no particular order, at most 100 a page. The last
    ``recent`` window first (a page holds all of it, so its newest is exact); only when it is
    empty, the rest of the offline window, where any fragment at all means online.
    """

    def __init__(
        self,
        kinesisvideo: Any,
        media_client_for: Callable[[str], Any],
        recent: timedelta = timedelta(minutes=1),
    ) -> None:
        self._kvs = kinesisvideo
        self._media_client_for = media_client_for
        self._recent = recent
        self._endpoints: dict[str, str] = {}

    def latest_fragment(
        self, stream_name: str, since: datetime, until: datetime
    ) -> datetime | None:
        media = self._media_client_for(self._endpoint(stream_name))
        split = max(since, until - self._recent)
        for start, end in ((split, until), (since, split)):
            if start >= end:
                continue
            try:
                response = media.list_fragments(
                    StreamName=stream_name,
                    MaxResults=100,
                    FragmentSelector={
                        "FragmentSelectorType": "SERVER_TIMESTAMP",
                        "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end},
                    },
                )
            except media.exceptions.ResourceNotFoundException as exc:
                raise StreamMissingError(stream_name) from exc
            stamps = [f["ServerTimestamp"] for f in response.get("Fragments", [])]
            if stamps:
                newest: datetime = max(stamps)
                return newest
        return None

    def _endpoint(self, stream_name: str) -> str:
        if stream_name not in self._endpoints:
            try:
                response = self._kvs.get_data_endpoint(
                    StreamName=stream_name, APIName="LIST_FRAGMENTS"
                )
            except self._kvs.exceptions.ResourceNotFoundException as exc:
                raise StreamMissingError(stream_name) from exc
            self._endpoints[stream_name] = response["DataEndpoint"]
        return self._endpoints[stream_name]


class DynamoHealthStore:
    """Current state PK=CAMERA#<cam> SK=HEALTH; history PK=CAMERA#<cam> SK=HEALTH#<ISO ts>."""

    def __init__(
        self, dynamodb: Any, table_name: str, history_ttl: timedelta = timedelta(days=400)
    ) -> None:
        self._dynamodb = dynamodb  # the boto3 DynamoDB service resource (plain Python values)
        self._table = dynamodb.Table(table_name)
        self._name = table_name
        self._ttl = history_ttl

    def load(self, camera_ids: Sequence[str]) -> dict[str, HealthRecord]:
        found: dict[str, HealthRecord] = {}
        ids = list(dict.fromkeys(camera_ids))
        for start in range(0, len(ids), 100):  # BatchGetItem takes at most 100 keys
            keys = [{"PK": f"CAMERA#{c}", "SK": "HEALTH"} for c in ids[start : start + 100]]
            request: dict[str, Any] = {self._name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._name, []):
                    record = HealthRecord.model_validate(item)
                    found[record.camera_id] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    def save(self, record: HealthRecord, changed: bool) -> None:
        document = record.model_dump(mode="json")
        pk = f"CAMERA#{record.camera_id}"
        self._table.put_item(Item={"PK": pk, "SK": "HEALTH", **document})
        if changed:
            expires = int((record.checked_at + self._ttl).timestamp())
            self._table.put_item(
                Item={
                    "PK": pk,
                    "SK": f"HEALTH#{_iso(record.since)}",
                    "camera_id": record.camera_id,
                    "health": document["health"],
                    "at": _iso(record.since),
                    "expiresAt": expires,
                }
            )


class EventBridgeHealthPublisher:
    """`Camera Health Changed` on the bus through the shared publisher (chunks of 10, only the
    failed entries resent); returns, per event, whether EventBridge accepted it."""

    def __init__(
        self,
        events_client: Any,
        bus_name: str,
        attempts: int = 3,
        sleep: Callable[[float], None] = _time.sleep,
    ) -> None:
        self._publisher = EventBridgePublisher(
            events_client, bus_name, attempts=attempts, sleep=sleep
        )

    def publish(self, events: Sequence[CameraHealthChanged]) -> list[bool]:
        failures = self._publisher.publish(
            [BusEvent(HEALTH_DETAIL_TYPE, event, key=str(i)) for i, event in enumerate(events)]
        )
        failed = {int(f.event.key) for f in failures}
        return [index not in failed for index in range(len(events))]


class WatchdogSettings(EnvSettings):
    """The watchdog function's environment, validated at cold start."""

    table_name: str = Field(alias="TABLE_NAME", min_length=3)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    camera_offline_minutes: int = Field(default=15, alias="CAMERA_OFFLINE_MINUTES", ge=1, le=1440)
    workers: int = Field(default=8, alias="WATCHDOG_WORKERS", ge=1, le=32)

    @property
    def policy(self) -> Policy:
        return Policy(offline_after=timedelta(minutes=self.camera_offline_minutes))
