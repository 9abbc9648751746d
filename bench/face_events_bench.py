"""face_events benchmark (not a test): throughput, memory and AWS calls per 1,000 records.

Workload: N cameras at 1 frame/s; most frames have no face, some have employees, a few
visitors linger (each a 90 s visit). Records of all cameras are interleaved, in batches of 500
like the event source mapping delivers them.

- Speed: the handler's own work (Powertools BatchProcessor, parse, classify, grouping, alert
  building) on one core, with every AWS call answered by in-memory stand-ins of facewatch's
  adapter interfaces.
- AWS calls: the same workload through the real adapters against moto, counted per service
  and operation with botocore's before-call events (moto's time is not measured).
- Naive baseline: one conditional write and one PutEvents per unknown-face record.
- Live updates: the clock moves as the frames do (a batch of 500 records of 50 cameras at
  1 frame/s is 10 s), so each lingering visitor's alerted incident publishes an
  ``Incident Updated`` at most every SLACK_UPDATE_MIN_INTERVAL_SECONDS; they share the alerts'
  PutEvents calls and add no DynamoDB write.

Run: make bench  (or .venv/bin/python bench/face_events_bench.py --cameras 50 --seconds 600)
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: E402

from facewatch.detections.pipeline import Adapters, run_batch  # noqa: E402
from facewatch.settings import FaceEventsSettings  # noqa: E402
from facewatch_tools.frames import FaceSpec, frame_record  # noqa: E402
from facewatch_tools.kinesis_events import kinesis_event  # noqa: E402
from tests.fakes import FakeClips, FakeMetrics, FakePublisher, FakeRejects, FakeStore  # noqa: E402

SETTINGS = FaceEventsSettings.model_validate(
    {
        "TABLE_NAME": "facewatch-bench",
        "EVENT_BUS_NAME": "facewatch-bench",
        "REJECTED_QUEUE_URL": "q",
    }
)
BATCH = 500
T0 = 1795000000.0


def workload(
    cameras: int, seconds: int, seed: int = 7, arns: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Frames of every camera, second by second; returns (events, unknown-face records)."""
    rng = random.Random(seed)
    visits: dict[int, list[tuple[int, int]]] = {
        c: [(start, start + 90)] if rng.random() < 0.3 else []
        for c in range(cameras)
        for start in [rng.randrange(0, max(1, seconds - 90))]
    }
    payloads: list[dict[str, Any]] = []
    unknown_records = 0
    for second in range(seconds):
        for camera in range(cameras):
            faces: list[FaceSpec] = []
            roll = rng.random()
            if roll < 0.25:
                faces.append(FaceSpec(employee_id=f"EMP-{rng.randrange(1000):05d}", left=0.1))
            if any(a <= second < b for a, b in visits[camera]):
                faces.append(FaceSpec(left=0.5))
                unknown_records += 1
            name = f"cam-{camera:03d}"
            arn = (arns or {}).get(name)
            payloads.append(frame_record(name, T0 + second + 0.5, faces, arn=arn))
    events = []
    for index, start in enumerate(range(0, len(payloads), BATCH)):
        events.append(
            kinesis_event(
                payloads[start : start + BATCH],
                first_sequence=10**20 + index * BATCH,
            )
        )
    return events, unknown_records


def fake_adapters() -> Adapters:
    return Adapters(
        store=FakeStore(),
        publisher=FakePublisher(),
        clips=FakeClips(),
        rejects=FakeRejects(),
        clock=lambda: T0,
        metrics=FakeMetrics(),
    )


def run_all(events: Sequence[dict[str, Any]], adapters: Adapters) -> None:
    processor = BatchProcessor(EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    for event in events:
        response = run_batch(event, None, SETTINGS, adapters, processor)
        assert not response["batchItemFailures"], response


def measure_speed(events: Sequence[dict[str, Any]], records: int, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        adapters = fake_adapters()
        gc.collect()
        started = time.process_time()
        run_all(events, adapters)
        best = min(best, time.process_time() - started)
    return records / best


def measure_memory(sizes: Sequence[int]) -> list[tuple[int, float]]:
    rows = []
    for size in sizes:
        payloads = [
            frame_record(
                f"cam-{i % 50:03d}", T0 + i / 50, [FaceSpec(left=0.5)] if i % 20 == 0 else []
            )
            for i in range(size)
        ]
        event = kinesis_event(payloads)
        adapters = fake_adapters()
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        gc.collect()
        tracemalloc.start()
        run_batch(event, None, SETTINGS, adapters, processor)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append((size, peak / size))
    return rows


def count_aws_calls(
    cameras: int, seconds: int, *, strip_unknowns: bool = False
) -> tuple[Counter[str], list[dict[str, int]], int]:
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from facewatch.alerts.bus import EventBridgePublisher  # noqa: PLC0415
    from facewatch.clips.hls import KvsClipProvider  # noqa: PLC0415
    from facewatch.detections.rejects import SqsRejectSink  # noqa: PLC0415
    from facewatch.detections.store import DynamoIncidentStore  # noqa: PLC0415
    from tests.aws import create_table_from_template  # noqa: PLC0415

    calls: Counter[str] = Counter()
    per_batch: list[dict[str, int]] = []
    current: Counter[str] = Counter()
    now = [T0]

    def count(event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        calls[f"{service}.{operation}"] += 1
        current[f"{service}.{operation}"] += 1

    with mock_aws():
        session = boto3.Session(region_name="ap-northeast-2")
        session.events.register("before-call", count)
        create_table_from_template("facewatch-bench")
        session.client("events").create_event_bus(Name="facewatch-bench")
        queue = session.client("sqs").create_queue(QueueName="rejects")["QueueUrl"]
        kvs = session.client("kinesisvideo")
        arns = {
            f"cam-{c:03d}": kvs.create_stream(StreamName=f"cam-{c:03d}", DataRetentionInHours=24)[
                "StreamARN"
            ]
            for c in range(cameras)
        }
        events, _ = workload(cameras, seconds, arns=arns)
        if strip_unknowns:  # only employees and empty frames
            for event in events:
                for record in event["Records"]:
                    record["kinesis"]["data"] = _without_unknowns(record["kinesis"]["data"])
        records = sum(len(e["Records"]) for e in events)
        calls.clear()
        adapters = Adapters(
            store=DynamoIncidentStore(session.client("dynamodb"), "facewatch-bench", 400),
            publisher=EventBridgePublisher(session.client("events"), "facewatch-bench"),
            clips=KvsClipProvider(
                session.client("kinesisvideo"),
                lambda url: session.client("kinesis-video-archived-media", endpoint_url=url),
            ),
            rejects=SqsRejectSink(session.client("sqs"), queue),
            clock=lambda: now[0],
            metrics=FakeMetrics(),
        )
        processor = BatchProcessor(
            EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )
        for index, event in enumerate(events):
            # wall clock = frame time: the live updates' throttle runs as in production
            now[0] = T0 + (index + 1) * BATCH / cameras
            current.clear()
            metrics = FakeMetrics()
            adapters.metrics = metrics
            run_batch(event, None, SETTINGS, adapters, processor)
            per_batch.append(
                {
                    **current,
                    "cameras_with_unknowns": _cameras_with_unknowns(event),
                    "opened": int(metrics.values["IncidentsOpened"]),
                    "alerts": int(metrics.values["AlertsPublished"]),
                    "updates": int(metrics.values["IncidentUpdatesPublished"]),
                }
            )
    return calls, per_batch, records


def _cameras_with_unknowns(event: dict[str, Any]) -> int:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    cameras = set()
    for record in event["Records"]:
        frame = json.loads(base64.b64decode(record["kinesis"]["data"]))
        if any(not f["MatchedFaces"] for f in frame["FaceSearchResponse"]):
            cameras.add(frame["InputInformation"]["KinesisVideo"]["StreamArn"])
    return len(cameras)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    events, unknown_records = workload(args.cameras, args.seconds)
    records = sum(len(e["Records"]) for e in events)
    print(
        f"workload: {args.cameras} cameras x {args.seconds} s = {records} records in "
        f"{len(events)} batches of {BATCH}; {unknown_records} with an unknown face"
    )

    rate = measure_speed(events, records)
    print(f"\nthroughput (handler's own work, one core, best of 3): {rate:,.0f} records/s")
    busy = [
        frame_record(
            f"cam-{i % 50:03d}",
            T0 + i // 50,
            [FaceSpec(employee_id="EMP-00001", left=0.1), FaceSpec(left=0.5)],
        )
        for i in range(10_000)
    ]
    busy_events = [
        kinesis_event(busy[i : i + BATCH], first_sequence=10**20 + i)
        for i in range(0, len(busy), BATCH)
    ]
    busy_rate = measure_speed(busy_events, len(busy))
    print(
        "  worst case, every frame an employee and a stranger (2.4 KB records): "
        f"{busy_rate:,.0f} records/s"
    )

    print("\nmemory (tracemalloc peak per record, one batch):")
    for size, per_record in measure_memory([100, 1000, 5000, 10000]):
        print(f"  batch {size:>6}: {per_record / 1024:6.2f} KiB/record")

    calls, per_batch, _ = count_aws_calls(args.cameras, args.seconds)
    print("\nAWS API calls per 1,000 records (real adapters against moto):")
    for name, value in sorted(calls.items()):
        print(f"  {name:<52} {value * 1000 / records:8.2f}")
    total = sum(calls.values())
    naive = unknown_records * 2  # PutItem + PutEvents per unknown-face record
    print(f"  {'total':<52} {total * 1000 / records:8.2f}")
    print(f"  {'naive: write + publish per unknown-face record':<52} {naive * 1000 / records:8.2f}")

    writes = {"dynamodb.TransactWriteItems", "dynamodb.PutItem", "dynamodb.UpdateItem"}
    write_budget_ok = publish_budget_ok = True
    for batch in per_batch:
        dynamo_writes = sum(v for k, v in batch.items() if k in writes)
        # the sent-marks of this batch's alerts are counted in "alerts" (one each)
        if dynamo_writes > batch["cameras_with_unknowns"] + batch["opened"] + batch["alerts"]:
            write_budget_ok = False
        # updates ride in the alerts' calls: 10 entries a call, whatever their kind
        if batch.get("eventbridge.PutEvents", 0) > math.ceil(
            (batch["alerts"] + batch["updates"]) / 10
        ):
            publish_budget_ok = False
    print("\nper-batch budgets over", len(per_batch), "batches:")
    print(
        f"  DynamoDB writes <= cameras with unknowns + incidents opened + alerts: {write_budget_ok}"
    )
    print(f"  EventBridge calls <= ceil((alerts + updates) / 10): {publish_budget_ok}")
    alerts = sum(b["alerts"] for b in per_batch)
    updates = sum(b["updates"] for b in per_batch)
    puts = sum(b.get("eventbridge.PutEvents", 0) for b in per_batch)
    print(f"  alerts {alerts}, Incident Updated {updates}, PutEvents calls {puts}")

    quiet_calls, quiet_batches, _ = count_aws_calls(args.cameras, 60, strip_unknowns=True)
    quiet = sum(quiet_calls.values())
    print(f"  AWS calls in {len(quiet_batches)} batches without unknown faces: {quiet}")


def _without_unknowns(data: str) -> str:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    frame = json.loads(base64.b64decode(data))
    frame["FaceSearchResponse"] = [f for f in frame["FaceSearchResponse"] if f["MatchedFaces"]]
    return base64.b64encode(json.dumps(frame).encode()).decode()


if __name__ == "__main__":
    main()
