"""Camera simulator: a scenario -> stream-processor records in the exact AWS format -> Kinesis.

Employees are matched with their ExternalImageId; strangers have empty MatchedFaces; now and
then an employee turns side-on and Rekognition returns a weak match or none (real life: those
frames look like a stranger). A weak match is never below the detector's search threshold (a
stream processor's is at least 80: it returns nothing lower), and every record passes
``frames.check_record``. Everything is drawn from one seeded generator: the same scenario gives
the same records.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from facewatch.detections.bands import PROCESSOR_MIN_THRESHOLD
from facewatch_tools.frames import FaceSpec, check_record, frame_record
from facewatch_tools.local.scenario import Scenario, Visit


@dataclass(frozen=True, slots=True)
class SimFrame:
    offset: float  # seconds from the start of the scenario
    camera_id: str
    record: dict[str, Any]
    people: tuple[str, ...]

    def data(self) -> bytes:
        return json.dumps(self.record, separators=(",", ":")).encode()


@dataclass(slots=True)
class Playback:
    """What was put when (wall clock), for latencies."""

    put_at: list[tuple[SimFrame, float]] = field(default_factory=list)


def _anchor(person: str, camera: str) -> float:
    digest = hashlib.sha256(f"{person}|{camera}".encode()).digest()
    return 0.1 + (digest[0] / 255) * 0.6  # where in the frame the person walks in


def _face(
    visit: Visit, t: float, employee: bool, rng: random.Random, search_threshold: float
) -> FaceSpec:
    progress = (t - visit.at) / visit.seconds
    width = round(rng.uniform(0.08, 0.13), 4)
    left = round(min(0.85, _anchor(visit.person, visit.camera) + 0.15 * progress), 4)
    top = round(rng.uniform(0.2, 0.32), 4)
    base = {"left": left, "top": top, "width": width, "height": round(width * 1.6, 4)}
    if rng.random() < visit.side_on:
        yaw = round(rng.choice((-1, 1)) * rng.uniform(45, 75), 1)
        confidence = round(rng.uniform(88.0, 98.5), 2)
        if employee and rng.random() < 0.5:
            # just above what the detector returns at all: possible or known, by the threshold
            similarity = round(rng.uniform(search_threshold, min(search_threshold + 9.5, 99.0)), 2)
            return FaceSpec(visit.person, similarity, confidence, yaw=yaw, **base)
        return FaceSpec(None, confidence=confidence, yaw=yaw, **base)
    yaw = round(rng.uniform(-15, 15), 1)
    confidence = round(rng.uniform(99.0, 99.95), 2)
    if employee:
        return FaceSpec(
            visit.person, round(rng.uniform(92.0, 99.6), 2), confidence, yaw=yaw, **base
        )
    return FaceSpec(None, confidence=confidence, yaw=yaw, **base)


def frames(
    scenario: Scenario,
    start: float,
    arns: dict[str, str],
    search_threshold: float = PROCESSOR_MIN_THRESHOLD,
) -> list[SimFrame]:
    """Every analysed frame of the scenario, in time order; ``arns``: camera id -> KVS ARN;
    ``search_threshold``: the detector's (a stream processor's, by default)."""
    rng = random.Random(scenario.seed)  # noqa: S311 - simulation, not security
    employees = scenario.employee_ids()
    step = 1.0 / scenario.fps
    out: list[SimFrame] = []
    ticks = int(scenario.duration * scenario.fps)
    for camera in scenario.cameras:
        visits = [v for v in scenario.visits if v.camera == camera.id]
        last_frame = -scenario.idle_frame_seconds
        for tick in range(ticks + 1):
            t = round(tick * step, 3)
            present = [v for v in visits if v.at <= t < v.at + v.seconds]
            if not present and t - last_frame < scenario.idle_frame_seconds:
                continue
            last_frame = t
            faces = [_face(v, t, v.person in employees, rng, search_threshold) for v in present]
            record = check_record(
                frame_record(camera.id, start + t, faces, arn=arns.get(camera.id)),
                min_similarity=search_threshold,
            )
            out.append(SimFrame(t, camera.id, record, tuple(v.person for v in present)))
    out.sort(key=lambda f: (f.offset, f.camera_id))
    return out


def play(
    planned: Sequence[SimFrame],
    put: Callable[[list[SimFrame]], None],
    *,
    speed: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[float, int], None] | None = None,
) -> Playback:
    """Put each frame when due: ``offset / speed`` seconds after the start (speed 0: at once)."""
    playback = Playback()
    started = clock()
    index = 0
    while index < len(planned):
        elapsed = clock() - started
        due = index
        while due < len(planned) and (speed <= 0 or planned[due].offset / speed <= elapsed):
            due += 1
        if due == index:
            sleep(max(0.0, planned[index].offset / speed - elapsed))
            continue
        batch = list(planned[index:due])
        put(batch)
        now = clock()
        playback.put_at += [(f, now) for f in batch]
        index = due
        if on_progress is not None:
            on_progress(batch[-1].offset, index)
    return playback
