"""One incident per visit, whatever the order: generated visits against the definition.

Hypothesis generates cameras' visits (strangers, employees, faces too small or unsure, gaps
around the window edge, producer duplicates, clock outliers), spreads the records over shards
and delivers them with the event source mapping's semantics: batches per shard, retry from the
lowest failed record, bisect on a crash, concurrent invocations of other shards interleaved at
every adapter call, store and bus faults. The final incidents and the published events are
compared with an oracle written from the README's definition: a camera's visits are its
time-sorted distinct unknown-face frames split where a gap exceeds the window. The clock moves
between invocations, so the live ``Incident Updated`` events are checked too: only for an
incident whose alert went out before, at most one per incident per update interval.

The adapters are the in-memory fakes of tests/fakes.py (conditional creation, optimistic
versions, claims with leases: what DynamoDB's conditions refuse, they refuse).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewatch.alerts.bus import BusEvent, PublishFailure
from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.alerts.merged import MERGED_DETAIL_TYPE
from facewatch.alerts.updated import UPDATED_DETAIL_TYPE
from facewatch.detections.pipeline import (
    SWEEP_AFTER_SECONDS,
    Adapters,
    run_batch,
    sweep_pending_alerts,
)
from facewatch.detections.store import LEASE_SECONDS
from facewatch.settings import FaceEventsSettings
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import DEFAULT_STREAM_ARN, encode, kinesis_record
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore

pytestmark = pytest.mark.usefixtures("no_network")

WINDOW, MINIMUM, T0 = 60.0, 2, 1795000000.0
SETTINGS = FaceEventsSettings.model_validate(
    {
        "TABLE_NAME": "t",
        "EVENT_BUS_NAME": "b",
        "REJECTED_QUEUE_URL": "q",
        "INCIDENT_WINDOW_SECONDS": str(WINDOW),
        "MIN_DETECTIONS": str(MINIMUM),
        "MIN_FACE_SIZE": "0.1",
    }
)
SERVER_LAG = 0.31  # frame_record's ServerTimestamp is the producer's + 0.31 s
FACES = {
    "stranger": FaceSpec(),
    "near-miss": FaceSpec(employee_id="EMP-7", similarity=70.0),  # unknown, closest EMP-7
    "employee": FaceSpec(employee_id="EMP-9", similarity=97.0),
    "small": FaceSpec(height=0.05),
    "unsure": FaceSpec(confidence=80.0),
}
UNKNOWN = {"stranger", "near-miss"}
GAPS = [0.5, 1.0, 30.0, 45.0, 59.5, 60.0, 60.5, 61.0, 150.0]
STEP = 4.0  # wall-clock seconds between two top-level invocations (less than the interval)


@dataclass(frozen=True)
class Frame:
    camera: str
    time: float  # on a 0.5 s grid
    faces: tuple[str, ...]
    skewed: bool = False  # the producer clock is 2 h off: the frame is placed at server time
    late: bool = False  # delivered after the camera's other frames

    @property
    def unknown(self) -> bool:
        return any(f in UNKNOWN for f in self.faces)

    @property
    def placed(self) -> float:
        return self.time + SERVER_LAG if self.skewed else self.time

    def payload(self) -> dict[str, Any]:
        record = frame_record(self.camera, self.time, [FACES[f] for f in self.faces])
        if self.skewed:
            record["InputInformation"]["KinesisVideo"]["ProducerTimestamp"] += 7200.0
        return record


@st.composite
def frames_of(draw: st.DrawFn, camera: str) -> list[Frame]:
    """A camera's frames: gaps around the window edge, and sometimes two bursts with a frame
    between them that bridges them (delivered late, when the bursts are incidents already)."""
    face_sets = st.lists(st.sampled_from(sorted(FACES)), min_size=1, max_size=2).map(tuple)
    t = T0 + draw(st.sampled_from([0.0, 0.5, 10.0]))
    if draw(st.booleans()):
        left = draw(st.integers(1, 3))
        right = draw(st.integers(1, 3))
        before, after = draw(
            st.sampled_from([(30.0, 45.0), (59.5, 1.0), (60.0, 0.5), (45.0, 45.0)])
        )
        times = [t + i for i in range(left)]
        bridge = times[-1] + before
        times += [bridge] + [bridge + after + i for i in range(right)]
        late = {left}
    else:
        gaps = draw(st.lists(st.sampled_from(GAPS), min_size=0, max_size=9))
        times = [t]
        for gap in gaps:
            t += gap
            times.append(t)
        late = set()
    return [
        Frame(camera, time, ("stranger",) if i in late else draw(face_sets), late=i in late)
        for i, time in enumerate(times)
    ]


@dataclass
class Plan:
    frames: list[Frame]
    duplicates: list[int]  # indexes of frames the producer wrote twice
    skewed: set[int]
    shard_of: list[int]  # per record (frames then duplicates)
    batch_size: int
    order_seed: list[int]  # a permutation key per record, within its shard
    faults: dict[int, str]  # adapter call number -> what happens there (else nothing)


FAULTS = ["crash", "throttle", "interleave", "interleave", "bus-fails", "settle-fails"]


@st.composite
def _orders(draw: st.DrawFn, plan_frames: list[Frame], duplicates: list[int]) -> list[int]:
    """Delivery order keys: random, newest first, or a few frames held back (late frames that
    bridge incidents)."""
    chosen = plan_frames + [plan_frames[i] for i in duplicates]
    times = [f.time for f in chosen]
    how = draw(st.sampled_from(["random", "newest-first", "late-last", "late-last"]))
    if how == "newest-first":
        return [-int(t * 2) for t in times]
    if how == "late-last":
        return [f.late * 10**12 + int(f.time * 2) for f in chosen]
    return draw(st.lists(st.integers(0, 1000), min_size=len(times), max_size=len(times)))


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    frames = draw(frames_of("cam-a")) + draw(frames_of("cam-b"))
    skewed = set(draw(st.lists(st.integers(0, len(frames) - 1), max_size=2)))
    frames = [Frame(f.camera, f.time, f.faces, i in skewed) for i, f in enumerate(frames)]
    duplicates = draw(st.lists(st.integers(0, len(frames) - 1), max_size=3))
    total = len(frames) + len(duplicates)
    return Plan(
        frames=frames,
        duplicates=duplicates,
        skewed=skewed,
        shard_of=draw(
            st.one_of(
                st.just([0] * total),
                st.lists(st.integers(0, 2), min_size=total, max_size=total),
            )
        ),
        batch_size=draw(st.sampled_from([1, 1, 2, 3, 50])),
        order_seed=draw(_orders(plan_frames=frames, duplicates=duplicates)),
        faults=draw(st.dictionaries(st.integers(0, 40), st.sampled_from(FAULTS), max_size=6)),
    )


# ---- the oracle: the definition in the README ---------------------------------------------
def visits(frames: list[Frame]) -> dict[str, list[tuple[float, float, int]]]:
    out: dict[str, list[tuple[float, float, int]]] = {}
    for camera in sorted({f.camera for f in frames}):
        times = sorted({f.placed for f in frames if f.camera == camera and f.unknown})
        groups: list[list[float]] = []
        for t in times:
            if groups and t - groups[-1][-1] <= WINDOW:
                groups[-1].append(t)
            else:
                groups.append([t])
        out[camera] = [(g[0], g[-1], len(g)) for g in groups]
    return out


# ---- delivery with the event source mapping's semantics -----------------------------------
class CrashError(Exception):
    """The invocation dies (timeout, out of memory): the ESM sees a function error."""


@dataclass
class World:
    plan: Plan
    store: FakeStore = field(default_factory=FakeStore)
    bus: FakePublisher = field(default_factory=FakePublisher)
    now: float = T0 + 1000
    depth: int = 0
    step: int = 0
    pending: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # shard -> records
    at_least_once: set[str] = field(default_factory=set)
    active: set[int] = field(default_factory=set)  # one invocation per shard at a time
    published_at: list[tuple[BusEvent, float]] = field(default_factory=list)  # accepted, when

    def decide(self) -> str:
        self.step += 1
        return self.plan.faults.get(self.step - 1, "ok")

    def boundary(self, name: str) -> None:
        """Every adapter call: maybe a crash, a throttle, or another shard's invocation now."""
        decision = self.decide()
        if decision == "crash":
            raise CrashError(name)
        if decision == "throttle" and name in ("commit", "load_state", "outstanding", "claim"):
            raise RuntimeError("ThrottlingException")
        if decision == "interleave" and self.depth == 0:
            others = [s for s, r in self.pending.items() if r and s not in self.active]
            if others:
                self.depth += 1
                try:
                    self.drain_one(others[-1])
                finally:
                    self.depth -= 1

    def adapters(self) -> Adapters:
        return Adapters(
            store=_Boundary(self.store, self),
            publisher=_Bus(self),
            clips=FakeClips(),
            rejects=FakeRejects(),
            clock=lambda: self.now,
            metrics=FakeMetrics(),
        )

    def invoke(self, records: list[dict[str, Any]]) -> list[str] | None:
        """One invocation: failed sequence numbers, or None when it crashed."""
        if self.depth == 0:  # an interleaved invocation runs inside another: the same moment
            self.now += STEP
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        try:
            response = run_batch({"Records": records}, None, SETTINGS, self.adapters(), processor)
        except CrashError:
            return None
        return [str(f["itemIdentifier"]) for f in response["batchItemFailures"]]

    def drain_one(self, shard: int) -> None:
        """The shard's next batch, to success: retry from the lowest failure, bisect a crash."""
        records = self.pending[shard]
        batch, self.pending[shard] = (
            records[: self.plan.batch_size],
            records[self.plan.batch_size :],
        )
        queue = [batch]
        self.active.add(shard)
        for _ in range(200):
            if not queue:
                self.active.discard(shard)
                return
            current = queue.pop(0)
            failed = self.invoke(current)
            if failed is None:
                if len(current) > 1:  # BisectBatchOnFunctionError
                    half = len(current) // 2
                    queue[:0] = [current[:half], current[half:]]
                else:
                    queue.insert(0, current)
            elif failed:
                lowest = min(int(s) for s in failed)
                queue.insert(
                    0, [r for r in current if int(r["kinesis"]["sequenceNumber"]) >= lowest]
                )
        raise AssertionError("a batch never succeeded: the shard is stuck")

    def run(self) -> None:
        for shard in sorted(self.pending):
            while self.pending[shard]:
                self.drain_one(shard)
        # Claims of crashed invocations run out; the sweeper publishes what is outstanding.
        self.plan.faults = {}
        self.now += LEASE_SECONDS + SWEEP_AFTER_SECONDS + 1
        adapters = Adapters(
            store=self.store,
            publisher=self.bus,
            clips=FakeClips(),
            rejects=FakeRejects(),
            clock=lambda: self.now,
            metrics=FakeMetrics(),
        )
        sweep_pending_alerts(SETTINGS, adapters)
        assert sweep_pending_alerts(SETTINGS, adapters) == 0


class _Boundary:
    """The store, with the world's decisions at each call (the AWS-client boundary)."""

    def __init__(self, store: FakeStore, world: World) -> None:
        self._store = store
        self._world = world

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._world.boundary(name)
            if name == "settle" and self._world.decide() == "settle-fails":
                raise RuntimeError("InternalServerError")
            result = method(*args, **kwargs)
            if name == "commit":
                self._world.boundary("after-commit")  # a crash here: committed, not published
            return result

        return call


class _Bus:
    def __init__(self, world: World) -> None:
        self._world = world

    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        world = self._world
        world.boundary("publish")
        if world.decide() == "bus-fails":
            return [PublishFailure(e, "ThrottlingException") for e in events]
        failures = world.bus.publish(events)
        failed = {id(f.event) for f in failures}
        world.published_at += [(e, world.now) for e in events if id(e) not in failed]
        try:
            world.boundary("after-publish")
        except CrashError:
            # EventBridge has them, the claims were not settled: the one at-least-once case
            world.at_least_once |= {e.key for e in events}
            raise
        return failures


def build(plan: Plan) -> World:
    world = World(plan)
    payloads = [f.payload() for f in plan.frames] + [
        plan.frames[i].payload() for i in plan.duplicates
    ]
    by_shard: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for index, payload in enumerate(payloads):
        by_shard.setdefault(plan.shard_of[index], []).append((plan.order_seed[index], payload))
    for shard, entries in sorted(by_shard.items()):
        entries.sort(key=lambda e: e[0])
        world.pending[shard] = [
            kinesis_record(
                encode(payload),
                str(10**20 + n),
                shard_id=f"shardId-00000000000{shard}",
                stream_arn=DEFAULT_STREAM_ARN,
            )
            for n, (_, payload) in enumerate(entries)
        ]
    return world


def _survivor(merged_into: dict[str, str], incident_id: str) -> str:
    while incident_id in merged_into:
        incident_id = merged_into[incident_id]
    return incident_id


PROPERTY = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(plans())
def test_incidents_and_events_match_the_definition(plan: Plan) -> None:
    world = build(plan)
    world.run()
    expected = visits(plan.frames)
    store = world.store
    merged_into = {
        i: item["mergedInto"] for i, item in store.items.items() if item["status"] == "merged"
    }
    for camera, wanted in expected.items():
        state = store.load_state(camera)
        got = sorted((i.first_seen, i.last_seen, i.detections) for i in state.incidents)
        assert got == wanted, (camera, got, wanted)
        for incident in state.incidents:
            assert incident.alerted == (incident.detections >= MINIMUM)
            assert incident.incident_id not in merged_into

    final = {i.incident_id: i for c in expected for i in store.load_state(c).incidents}
    alerts = [e.key for e in world.bus.published if e.detail_type == ALERT_DETAIL_TYPE]
    merges = [e for e in world.bus.published if e.detail_type == MERGED_DETAIL_TYPE]
    # once each; a hinted possible incident that turns unknown alerts once more, paging
    pages: dict[str, list[bool]] = {}
    for event in world.bus.published:
        if event.detail_type == ALERT_DETAIL_TYPE:
            pages.setdefault(event.key, []).append(bool(getattr(event.detail, "page", True)))
    duplicates = {
        a for a, paged in pages.items() if len(paged) > 1 and paged not in ([False, True],)
    }
    assert duplicates <= world.at_least_once, (duplicates, pages)
    # every alerting visit alerted (under its survivor's id, or an absorbed one's)
    alerted_visits = {_survivor(merged_into, a) for a in alerts}
    assert alerted_visits <= set(final), "an alert for an incident that is no visit"
    for incident_id, incident in final.items():
        assert (incident_id in alerted_visits) == (incident.detections >= MINIMUM)
        if incident.detections >= MINIMUM:
            assert incident_id in alerts  # the survivor alerts itself once it covers the visit
    # a merge notice exactly for each absorbed incident whose alert went out
    noticed = [json.loads(e.detail.model_dump_json(by_alias=True)) for e in merges]
    notice_ids = [n["incidentId"] for n in noticed]
    assert sorted(set(notice_ids)) == sorted({a for a in alerts if a in merged_into})
    assert len(notice_ids) == len(set(notice_ids)) or set(notice_ids) & world.at_least_once
    for notice in noticed:
        assert _survivor(merged_into, notice["mergedInto"]) == _survivor(
            merged_into, notice["incidentId"]
        )
    _check_updates(world)


def _check_updates(world: World) -> None:
    """Incident Updated: after its incident's alert, at most one per interval, never a regress."""
    alerted: set[str] = set()
    last: dict[str, tuple[float, int]] = {}
    for event, at in world.published_at:
        if event.detail_type == ALERT_DETAIL_TYPE:
            alerted.add(event.key)
        if event.detail_type != UPDATED_DETAIL_TYPE:
            continue
        assert event.key in alerted, f"an update of {event.key} before its alert"
        assert event.key in world.store.items  # an incident with an item: it alerted
        detections = int(getattr(event.detail, "detections", 0))
        if event.key in last:
            before, seen = last[event.key]
            assert at - before >= SETTINGS.update_interval_seconds, (event.key, before, at)
            assert detections >= seen, "an update that shows less than the one before"
        last[event.key] = (at, detections)


def test_the_oracle_splits_on_gaps_longer_than_the_window() -> None:
    frames = [Frame("c", T0 + t, ("stranger",)) for t in (0, 60, 121, 121)]
    frames.append(Frame("c", T0 + 200, ("employee",)))
    assert visits(frames) == {"c": [(T0, T0 + 60, 2), (T0 + 121, T0 + 121, 1)]}


def test_records_are_real_records() -> None:
    frame = Frame("c", T0, ("stranger",), skewed=True)
    decoded = json.loads(base64.b64decode(encode(frame.payload())))
    video = decoded["InputInformation"]["KinesisVideo"]
    assert video["ProducerTimestamp"] - video["ServerTimestamp"] > 7000
