"""Frame sampler benchmark on a hard office hour: calls, misses, false alarms, latency, cost.

Runs the real sampler (settings, motion gate, tracker, face search, record writer, checkpoints,
the run loop with one-minute invocations and handovers) on a synthetic office camera (the
``workload`` below: employees seated in view all hour, people walking by without facing the
camera, lights switched, clouds, a door's light on the floor, two people crossing, a visitor who
faces the camera for 2 s, a visitor behind an employee, ordinary visits). KVS GetImages and
Rekognition are answered by Stubber, KVS control plane, Kinesis and DynamoDB by moto, all in
process; time is simulated: modelled latencies for every AWS call and for the sampler's own
work (SERVICE_LATENCY, OWN_WORK), so a run repeats exactly.

    .venv/bin/python bench/sampler_bench.py [--minutes 60] [--fps 2] [--seed 42]

Prints, for the sampler beside a naive sampler (DetectFaces on every sampled frame and
SearchFacesByImage on every face) and a stream processor (every face of about one frame a
second): Rekognition calls per camera-hour by API, visitors missed, employees alerted as
unknown, latency from the first frame a face is visible to its record (p50/p95), and USD per
camera-month. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmark reuses the tests' stand-ins (tests.sampler)

from moto import mock_aws  # noqa: E402

from facewatch.detections.records import ProcessorRecord  # noqa: E402
from facewatch.sampler.camera import CameraSampler  # noqa: E402
from facewatch.sampler.run import SamplerRequest, run_group  # noqa: E402
from facewatch.sampler.settings import SamplerSettings  # noqa: E402
from tests.sampler.sampler_kinesis_events import read_stream  # noqa: E402
from tests.sampler.sampler_rig import STREAM, build_rig  # noqa: E402
from tests.sampler.sampler_scene import Lighting, Scene, Visit  # noqa: E402

# ---- prices (USD, US East (N. Virginia)) --------------------------------------------------------
# Rekognition Image, first 1 M images a month, Group 1 (SearchFacesByImage) and Group 2
# (DetectFaces): aws.amazon.com/rekognition/pricing, as transcribed on 2026-10-07.
REKOGNITION_IMAGE_CALL = 0.001
# Rekognition streaming video face search (stream processor), per minute of video analysed:
# aws.amazon.com/rekognition/pricing as last published before 2026-04-30; UNCONFIRMED (the page's
# tables render dynamically; re-check before quoting).
STREAM_PROCESSOR_MINUTE = 0.12
# Kinesis Data Streams on-demand, per stream-hour (each processor needs its own data stream):
# aws.amazon.com/kinesis/data-streams/pricing, checked 2024; UNCONFIRMED for 2026.
KDS_ON_DEMAND_STREAM_HOUR = 0.04
# KVS data consumed, per GB (HLS rate, used for GetImages bytes): aws.amazon.com/kinesis/
# video-streams/pricing as transcribed on 2026-10-07. Whether GetImages bills per image as well
# is UNCONFIRMED.
KVS_CONSUMED_GB = 0.0119
# Lambda arm64 per GB-second, and per million requests: aws.amazon.com/lambda/pricing, 2024.
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_MILLION_REQUESTS = 0.20
# DynamoDB on-demand, per million write request units: aws.amazon.com/dynamodb/pricing, 2024-11.
DYNAMODB_MILLION_WRITES = 0.625
HOURS_A_MONTH = 730
SAMPLER_MEMORY_GB = 1.0
CAMERAS_PER_INVOCATION = 8  # cameras one scheduled invocation serves (a deployment choice)

# Modelled latencies (seconds) of every AWS call the sampler makes; UNCONFIRMED typical values.
SERVICE_LATENCY = {
    "GetImages": 0.12,
    "ListFragments": 0.10,
    "DetectFaces": 0.15,
    "SearchFacesByImage": 0.20,
    "PutRecords": 0.03,
    "UpdateItem": 0.01,
    "DescribeStream": 0.05,
    "GetDataEndpoint": 0.05,
}
# The sampler's own work, modelled (not measured) so that a run repeats exactly: a gate frame
# (decode 128x72, find motion) and a look (decode full frames, crop, encode a mosaic, build
# records). About twice what this 2-core machine measures; UNCONFIRMED on Lambda arm64, 1 GB.
OWN_WORK = {"frame": 0.002, "look": 0.04}
# A stream processor's own delay after a fragment is in KVS: undocumented; modelled as 1 s.
PROCESSOR_DELAY = 1.0
MIN_DETECTIONS = 2  # face_events' default: unknown-face frames that make an alerting incident

# Targets (issue: the sampler at a tenth of its cost).
TARGET_CALLS, TARGET_P95, TARGET_USD = 80, 3.0, 60.0


Box = tuple[float, float, float, float]


def workload(
    minutes: int, rng: random.Random, t0: float
) -> tuple[list[Visit], list[Lighting], list[str]]:
    """A hard office hour (scaled to ``minutes``), seeded.

    - two employees seated in view all the time, swaying a little, looking down at their desks
      now and then (no face seen), their faces turned for 0.5 s at each look up or down;
    - people walking by without facing the camera;
    - two people crossing (a visitor and an employee: their tracks meet and swap sides);
    - a visitor who faces the camera for only 2 s of a 10 s walk;
    - a visitor standing behind an employee (a smaller face, partly hidden);
    - ordinary visits: employees and visitors walking through facing the camera, their faces
      turned for 0.5 s as they enter and leave;
    - lights switched off and on, clouds dimming the room, a door throwing light on the floor.

    Returns the visits, the lighting changes and each visit's scenario (for the breakdown).
    """
    total = minutes * 60.0
    scale = minutes / 60.0
    visits: list[Visit] = []
    kinds: list[str] = []  # visits[i]'s scenario (labels only: the scene is the visits)
    who: str | None
    for seated, x in (("EMP-30003", 0.04), ("EMP-40004", 0.86)):
        looks: list[tuple[float, float]] = []
        t = t0 - 600.0
        while t < t0 + total + 600:
            up = rng.uniform(180, 480)
            looks.append((t, t + up))
            t += up + rng.uniform(20, 90)
        visits.append(
            Visit(t0 - 600, t0 + total + 600, seated, face_height=0.14, start_x=x, end_x=x,
                  top=0.32, facing=tuple(looks), turn_seconds=0.5, sway=0.006)
        )  # fmt: skip
        kinds.append("seated")
    events: list[str] = (
        ["walk-by"] * 5 + ["cross", "brief", "behind"] + ["employee"] * 4 + ["visitor"] * 2
    )
    events = events[: max(len(events) * minutes // 60, 4)]
    rng.shuffle(events)
    slot = total / len(events)
    for i, kind in enumerate(events):
        start = t0 + i * slot + rng.uniform(10, max(11.0, slot - 30))
        length = rng.uniform(9, 14)
        end = start + length
        employee = rng.choice(["EMP-10442", "EMP-20001"])
        size = rng.uniform(0.22, 0.32)
        left, right = (0.1, 0.65) if rng.random() < 0.5 else (0.65, 0.1)
        if kind == "walk-by":
            who = employee if rng.random() < 0.5 else None
            visits.append(Visit(start, end, who, size, left, right, facing=()))
            kinds.append(kind)
        elif kind == "cross":
            visits.append(Visit(start, end, None, size, 0.1, 0.65, turn_seconds=0.5))
            visits.append(Visit(start, end, employee, size, 0.65, 0.1, turn_seconds=0.5))
            kinds += [kind, kind]
        elif kind == "brief":
            facing = ((start + 4.0, start + 6.0),)
            visits.append(Visit(start, start + 10, None, size, left, right, facing=facing))
            kinds.append(kind)
        elif kind == "behind":
            visits.append(Visit(start, end, employee, 0.3, left, right, turn_seconds=0.5))
            offset = 0.09 if left < right else -0.09
            visits.append(
                Visit(start + 0.5, end + 0.5, None, 0.2, left + offset, right + offset, top=0.08,
                      turn_seconds=0.5)
            )  # fmt: skip
            kinds += [kind, kind]
        else:
            who = employee if kind == "employee" else None
            visits.append(Visit(start, end, who, size, left, right, turn_seconds=0.5))
            kinds.append(kind)
    lights = [
        Lighting("switch", t0 + total * 0.20, t0 + total * 0.45, 0.55),
        Lighting("cloud", t0 + total * 0.55, t0 + total * 0.55 + 120 * scale, 0.65),
        Lighting("cloud", t0 + total * 0.80, t0 + total * 0.80 + 90 * scale, 0.75),
    ]
    for k in range(max(1, round(4 * scale))):
        at = t0 + total * (0.1 + 0.22 * k) + rng.uniform(0, 60)
        lights.append(Lighting("door", at, at + rng.uniform(5, 12), 1.6))
    return visits, lights, kinds


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


def seen(scene: Scene, t: float) -> list[tuple[int, Box, str]]:
    """(visit index, face box, pose) of every face a detector finds at t."""
    out = []
    for index, visit in enumerate(scene.visits):
        box, pose = visit.box(t), visit.pose(t)
        if box and pose:
            out.append((index, box, pose))
    return out


def first_visible(visit: Visit, start: float, end: float) -> float | None:
    intervals = visit.facing if visit.facing is not None else ((visit.enter, visit.leave),)
    times = [
        max(a, visit.enter, start) for a, b in intervals if min(b, visit.leave, end) > max(a, start)
    ]
    return min(times) if times else None


class Outcome:
    """Per visit: unknown-face frames attributed to it, matched frames, first record time."""

    def __init__(self, scene: Scene, start: float, end: float) -> None:
        self.scene, self.start, self.end = scene, start, end
        self.unknown = [0] * len(scene.visits)
        self.faces = [0] * len(scene.visits)
        self.first: list[float | None] = [None] * len(scene.visits)

    def face(self, t: float, box: Box, unknown: bool, recorded_at: float) -> None:
        """A face (box at frame time t) in a record that reached the stream at recorded_at."""
        candidates = [(iou(box, true), i) for i, true, _ in seen(self.scene, t)]
        overlap, index = max(candidates, default=(0.0, -1))
        if overlap < 0.3:
            return
        self.unknown[index] += unknown
        self.faces[index] += 1
        if self.first[index] is None or recorded_at < (self.first[index] or 0.0):
            self.first[index] = recorded_at

    def summary(self) -> dict[str, Any]:
        visitors = missed = employees = alerted = 0
        latencies = []
        for index, visit in enumerate(self.scene.visits):
            visible = first_visible(visit, self.start, self.end - 30)
            if visible is None:
                continue  # never faced the camera (a walk-by): nobody can recognise them
            if visit.who is None:
                visitors += 1
                missed += self.unknown[index] < MIN_DETECTIONS
            else:
                employees += 1
                alerted += self.unknown[index] >= MIN_DETECTIONS
            first = self.first[index]
            # Never recorded: counted as the whole visit (a miss shows in the latency too).
            latencies.append((first if first is not None else visit.leave) - visible)
        return {
            "per_visit": [
                (
                    v,
                    first_visible(v, self.start, self.end - 30),
                    self.faces[i],
                    self.unknown[i],
                    self.first[i],
                )
                for i, v in enumerate(self.scene.visits)
            ],
            "visitors": visitors,
            "missed": missed,
            "employees": employees,
            "alerted": alerted,
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies, default=float("nan")),
            "faced": len(latencies),
        }


def percentile(values: list[float], q: float) -> float:
    """The value at rank round(q * (n - 1)) of the sorted values (numpy's "nearest"): with the
    13 visits that face the camera, p95 is the second highest (the bench prints the highest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def every_frame(
    scene: Scene, start: float, end: float, fps: float, delay: float
) -> dict[str, float]:
    """A detector that detects every frame at ``fps`` and searches every face it finds: an
    employee's turned face matches below the threshold (unknown), as Rekognition's would."""
    outcome = Outcome(scene, start, end)
    detect = search = 0
    for k in range(int((end - start) * fps)):
        t = start + k / fps
        detect += 1
        for _, box, pose in seen(scene, t):
            search += 1
            index = max((iou(box, b), i) for i, b, _ in seen(scene, t))[1]
            unknown = scene.visits[index].who is None or pose == "turned"
            outcome.face(t, box, unknown, scene.available_at(t) + delay)
    hours = (end - start) / 3600
    return {"detect": detect / hours, "search": search / hours, **outcome.summary()}


def simulate(
    minutes: int, fps: float, seed: int, service_latency: bool, mosaics: bool = True
) -> dict[str, Any]:
    settings = SamplerSettings(
        detections_stream_name=STREAM,
        table_name="facewatch-bench-incidents",
        collection_id="facewatch-employees",
        fps=fps,
        mosaics=mosaics,
    )
    rig = build_rig(settings)
    rig.add_camera("bench-cam")
    start = rig.clock.now()
    visits, lights, kinds = workload(minutes, random.Random(seed), start)
    rig.scene.visits.extend(visits)
    rig.scene.lighting.extend(lights)
    # Uploads take 0.3-0.9 s: frames become readable at every phase of the sampler's 1 s poll.
    rig.scene.upload_seconds, rig.scene.upload_jitter = 0.3, 0.6
    if service_latency:
        rig.rekognition.latency.update(SERVICE_LATENCY)
        rig.rekognition.clock = rig.clock
        original = rig.frames._media_client

        def media_client(endpoint: str):  # type: ignore[no-untyped-def]
            client = original(endpoint)
            rig.media[-1].latency.update(SERVICE_LATENCY)
            rig.media[-1].clock = rig.clock
            return client

        rig.frames._media_client = media_client
        # Kinesis, DynamoDB and the KVS control plane are moto: their latency is added after.
        for client in (rig.kinesis, rig.video):
            modelled_latency(client, rig.clock)
        store = rig.store

        def timed_store(owner: str) -> Any:
            checkpoints = store(owner)
            modelled_latency(checkpoints._dynamodb, rig.clock)
            return checkpoints

        rig.store = timed_store  # type: ignore[method-assign]
    # What each DetectFaces call looked at: its frame, or (a mosaic) the newest full frame read.
    looked_at: list[float | None] = []
    detect = rig.rekognition.responders["DetectFaces"]

    def counted_detect(params: dict[str, Any]) -> Any:
        image = params["Image"]["Bytes"]
        looked_at.append(rig.scene.time_of(image) or rig.scene.last_full_time)
        return detect(params)

    rig.rekognition.responders["DetectFaces"] = counted_detect
    phase = random.Random(seed + 1)
    put_at: dict[int, float] = {}
    totals: dict[str, float] = {}
    wall = time.perf_counter()
    work = own_work(rig.clock) if service_latency else contextlib.nullcontext()
    with work:
        invocations(rig, settings, minutes, start, phase, put_at, totals)
    wall = time.perf_counter() - wall
    end = start + minutes * 60
    return outcome(
        rig, settings, visits, lights, kinds, looked_at, start, end, put_at, totals, wall, fps
    )


def invocations(
    rig: Any,
    settings: SamplerSettings,
    minutes: int,
    start: float,
    phase: random.Random,
    put_at: dict[int, float],
    totals: dict[str, float],
) -> None:
    """One-minute invocations, as the schedule runs them, with handovers between them."""
    for minute in range(minutes):
        remaining = int((settings.run_seconds + settings.stop_margin_seconds + 9) * 1000)
        report = run_group(
            SamplerRequest(cameras=["bench-cam"]),
            settings,
            rig.deps(f"invocation-{minute}"),
            lambda remaining=remaining: remaining,  # type: ignore[misc]
        )
        for key, value in report.totals.items():
            totals[key] = totals.get(key, 0) + value
        skew_ms = round(report.cameras["bench-cam"].clock_skew_seconds * 1000)
        for true_ms, written_ms in report.written_at:
            put_at[true_ms - skew_ms] = written_ms / 1000.0  # by the record's producer time
        # Scheduled invocations start a little after the minute: the poll phase varies.
        next_minute = start + (minute + 1) * 60 + phase.uniform(0.0, 1.0)
        if rig.clock.now() < next_minute:
            rig.clock.sleep(next_minute - rig.clock.now())


def outcome(
    rig: Any,
    settings: SamplerSettings,
    visits: list[Visit],
    lights: list[Lighting],
    kinds: list[str],
    looked_at: list[float | None],
    start: float,
    end: float,
    put_at: dict[int, float],
    totals: dict[str, float],
    wall: float,
    fps: float,
) -> dict[str, Any]:
    minutes = round((end - start) / 60)
    got = [ProcessorRecord.model_validate_json(r.data) for r in read_stream(rig.kinesis, STREAM)]
    seen_faces = Outcome(rig.scene, start, end)
    for record in got:
        t = record.frame_time
        recorded = put_at.get(round(t * 1000), end)
        for face in record.faces:
            b = face.DetectedFace.BoundingBox
            known = any(m.Similarity >= settings.face_match_threshold for m in face.MatchedFaces)
            seen_faces.face(t, (b.Left, b.Top, b.Width, b.Height), not known, recorded)
    hours = minutes / 60
    calls = rig.rekognition.calls
    return {
        "by_scenario": by_scenario(rig, kinds, looked_at, hours),
        "mosaics": totals.get("mosaics", 0) / hours,
        "tiles": totals.get("mosaic_tiles", 0) / hours,
        "hours": hours,
        "wall_seconds": wall,
        "frames": minutes * 60 * fps,
        "detect": calls.get("DetectFaces", 0) / hours,
        "search": calls.get("SearchFacesByImage", 0) / hours,
        "getimages": sum(s.calls.get("GetImages", 0) for s in rig.media) / hours,
        "analysed": totals.get("frames_analysed", 0) / hours,
        "for_motion": totals.get("analysed_for_motion", 0) / hours,
        "for_tracks": totals.get("analysed_for_tracks", 0) / hours,
        "records": len(got),
        "gap": totals.get("gap_seconds", 0.0),
        "walk_bys": sum(1 for v in visits if v.facing == ()),
        "lights": len(lights),
        **seen_faces.summary(),
        "naive": every_frame(rig.scene, start, end, fps, 0.5 + 0.35),
        "processor": every_frame(rig.scene, start, end, 1.0, PROCESSOR_DELAY),
    }


def modelled_latency(client: Any, clock: Any) -> Any:
    """Each call of a moto-backed client takes its SERVICE_LATENCY on the scene's clock."""

    def after(model: Any, **_: Any) -> None:
        clock.advance(SERVICE_LATENCY.get(model.name, 0.0))

    client.meta.events.register("after-call", after)
    return client


@contextlib.contextmanager
def own_work(clock: Any) -> Iterator[None]:
    """The sampler's own work (OWN_WORK) on the scene's clock: per gate frame and per look."""
    frame, look = CameraSampler._frame, CameraSampler._look

    def timed_frame(self: CameraSampler, *args: Any) -> None:
        clock.advance(OWN_WORK["frame"])
        frame(self, *args)

    def timed_look(self: CameraSampler, *args: Any, **kwargs: Any) -> None:
        clock.advance(OWN_WORK["look"])
        look(self, *args, **kwargs)

    CameraSampler._frame, CameraSampler._look = timed_frame, timed_look  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        CameraSampler._frame, CameraSampler._look = frame, look  # type: ignore[method-assign]


def scenario_at(scene: Scene, kinds: list[str], t: float | None) -> str:
    """What a Rekognition call at frame time t was for: the scenarios in view (the seated
    employees only when nobody else is), and lighting changing meanwhile."""
    if t is None:
        return "unknown frame"
    present = {kinds[i] for i, v in enumerate(scene.visits) if v.box(t) and kinds[i] != "seated"}
    label = "+".join(sorted(present)) or "seated only"
    if any(light.factor(t) != 1.0 for light in scene.lighting):
        label += " (lighting)"
    return label


def by_scenario(
    rig: Any, kinds: list[str], looked_at: list[float | None], hours: float
) -> dict[str, dict[str, float]]:
    """Rekognition calls an hour by API and by what was in view at the (newest) frame looked
    at (a search is put down to the look its DetectFaces was for)."""
    table: dict[str, dict[str, float]] = {}
    label = "unknown frame"
    times = iter(looked_at)
    for name, _params in rig.rekognition.requests:
        if name == "DetectFaces":
            label = scenario_at(rig.scene, kinds, next(times))
        row = table.setdefault(label, {})
        row[name] = row.get(name, 0.0) + 1.0 / hours
    return table


def monthly(result: dict[str, Any]) -> dict[str, float]:
    per_hour = result["detect"] + result["search"]
    rekognition = per_hour * HOURS_A_MONTH * REKOGNITION_IMAGE_CALL
    lambda_cost = (
        SAMPLER_MEMORY_GB * 3600 * HOURS_A_MONTH * LAMBDA_ARM_GB_SECOND
        + 60 * HOURS_A_MONTH / 1e6 * LAMBDA_MILLION_REQUESTS
    ) / CAMERAS_PER_INVOCATION
    kvs = 3_000 * result["frames"] / result["hours"] + 30_000 * result["analysed"]
    kvs_cost = kvs * HOURS_A_MONTH / 1e9 * KVS_CONSUMED_GB
    writes = result["analysed"] + 360  # one per record + periodic saves
    dynamo = writes * HOURS_A_MONTH / 1e6 * DYNAMODB_MILLION_WRITES
    processor = (
        60 * HOURS_A_MONTH * STREAM_PROCESSOR_MINUTE + HOURS_A_MONTH * KDS_ON_DEMAND_STREAM_HOUR
    )
    naive: dict[str, float] = result["naive"]
    return {
        "sampler": rekognition + lambda_cost + kvs_cost + dynamo,
        "rekognition": rekognition,
        "lambda": lambda_cost,
        "kvs": kvs_cost,
        "dynamodb": dynamo,
        "naive_rekognition": (naive["detect"] + naive["search"]) * HOURS_A_MONTH
        * REKOGNITION_IMAGE_CALL,
        "processor": processor,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--verbose", action="store_true", help="print every visit's outcome")
    parser.add_argument(
        "--no-service-latency", action="store_true", help="answer AWS calls in no time"
    )
    parser.add_argument(
        "--no-mosaics", action="store_true", help="every look on one whole frame (before mosaics)"
    )
    args = parser.parse_args()
    os.environ.update(
        AWS_DEFAULT_REGION="ap-northeast-2",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # moto placeholder  # pragma: allowlist secret
    )
    with mock_aws():
        r = simulate(
            args.minutes, args.fps, args.seed, not args.no_service_latency, not args.no_mosaics
        )
    naive: dict[str, float] = r["naive"]
    proc: dict[str, float] = r["processor"]
    cost = monthly(r)
    print(
        f"workload: {args.minutes} min office hour, seed {args.seed}, {args.fps:g} fps gate: "
        f"{r['visitors']:.0f} visitors and {r['employees']:.0f} employees facing the camera, "
        f"{r['walk_bys']:.0f} walk-bys not facing it, 2 employees seated all along, "
        f"{r['lights']:.0f} lighting changes"
    )
    latency = "modelled AWS call latencies" if not args.no_service_latency else "no AWS latency"
    print(f"  sampler: {r['detect']:.0f} looks an hour ({r['for_motion']:.0f} for motion no "
          f"track explains, {r['for_tracks']:.0f} at a track's rate; {r['mosaics']:.0f} "
          f"mosaics of {r['tiles']:.0f} regions), {r['analysed']:.0f} frames analysed, "
          f"{r['records']:.0f} records, "
          f"gap {r['gap']:.1f} s ({latency} {SERVICE_LATENCY})")  # fmt: skip
    rows = [
        ("per camera-hour", "sampler", "naive (2 fps)", "stream processor"),
        ("DetectFaces", f"{r['detect']:.0f}", f"{naive['detect']:.0f}", "-"),
        ("SearchFacesByImage", f"{r['search']:.0f}", f"{naive['search']:.0f}", "-"),
        ("Rekognition Image calls", f"{r['detect'] + r['search']:.0f}",
         f"{naive['detect'] + naive['search']:.0f}", "- (60 streaming minutes)"),
        ("GetImages calls", f"{r['getimages']:.0f}", "-", "-"),
        ("visitors missed", f"{r['missed']:.0f} of {r['visitors']:.0f}",
         f"{naive['missed']:.0f}", f"{proc['missed']:.0f}"),
        ("employees alerted as unknown", f"{r['alerted']:.0f} of {r['employees']:.0f}",
         f"{naive['alerted']:.0f}", f"{proc['alerted']:.0f}"),
        ("first visible -> record p50", f"{r['p50']:.2f} s", f"{naive['p50']:.2f} s (modelled)",
         f"{proc['p50']:.2f} s (modelled)"),
        ("first visible -> record p95", f"{r['p95']:.2f} s", f"{naive['p95']:.2f} s (modelled)",
         f"{proc['p95']:.2f} s (modelled)"),
        (f"first visible -> record max ({r['faced']:.0f})", f"{r['max']:.2f} s",
         f"{naive['max']:.2f} s (modelled)", f"{proc['max']:.2f} s (modelled)"),
        ("USD / camera-month", f"{cost['sampler']:.2f}", f"{cost['naive_rekognition']:.2f}",
         f"{cost['processor']:.2f}"),
    ]  # fmt: skip
    for row in rows:
        print(f"  {row[0]:30} {row[1]:>14} {row[2]:>24} {row[3]:>26}")
    print(
        f"  sampler USD = Rekognition {cost['rekognition']:.2f} + Lambda {cost['lambda']:.2f} "
        f"({CAMERAS_PER_INVOCATION} cameras an invocation) + KVS images {cost['kvs']:.2f} + "
        f"DynamoDB {cost['dynamodb']:.2f}; naive: Rekognition only; processor: streaming "
        f"minutes + its own data stream (prices: see the constants' dates)"
    )
    print("  Rekognition calls an hour by what was in view (DetectFaces + SearchFacesByImage):")
    for label, row in sorted(r["by_scenario"].items(), key=lambda i: -sum(i[1].values())):
        detect, search = row.get("DetectFaces", 0.0), row.get("SearchFacesByImage", 0.0)
        print(f"    {label:40} {detect + search:6.0f} ({detect:.0f} + {search:.0f})")
    if args.verbose:
        start = min(p[0].enter for p in r["per_visit"])
        for visit, visible, faces, unknown, first in r["per_visit"]:
            print(
                f"  visit {visit.enter - start:8.1f}-{visit.leave - start:8.1f} "
                f"{visit.who or 'visitor':10}"
                f" visible {visible and visible - start} faces {faces} unknown {unknown}"
                f" first {first and first - (visible or 0)}"
            )
    print(f"bench wall time {r['wall_seconds']:.0f} s")
    met = {
        f"<= {TARGET_CALLS} calls": r["detect"] + r["search"] <= TARGET_CALLS,
        "0 visitors missed": r["missed"] == 0,
        "0 employees alerted": r["alerted"] == 0,
        f"p95 <= {TARGET_P95:g} s": r["p95"] <= TARGET_P95,
        f"<= {TARGET_USD:g} USD": cost["sampler"] <= TARGET_USD,
    }
    print(
        "targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in met.items())
    )
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
