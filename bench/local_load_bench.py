"""Load on the local stack (not a test): 200 cameras at 2 records/s for 60 s of scenario time
(24,000 processor records), put as fast as this machine allows while the runner polls the
stream like Lambda does, through the real face_events, bus, notifiers.

Prints: the sustained rate, how far behind the poller fell (records waiting, and that backlog in
seconds of camera time at the 400 records/s the cameras produce), and the loss/duplicate check:
records in = processed + rejected, one alert event and at most one Slack post and one SMS per
incident.

Run: .venv/bin/python bench/local_load_bench.py [--cameras 200] [--rate 2] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.local.stack import LocalStack


def workload(
    stack: LocalStack, cameras: int, rate: int, seconds: int
) -> tuple[list[list[tuple[bytes, str]]], int]:
    """Records per scenario second; a visitor at 5% of the cameras, 20 s each."""
    rng = random.Random(11)
    start = time.time() - seconds - 5
    names = [f"load-cam-{i:03d}" for i in range(cameras)]
    arns = {n: stack.video_stream_arn(n) for n in names}
    visitors = {
        n: rng.randrange(0, max(1, seconds - 20)) for n in rng.sample(names, max(1, cameras // 20))
    }
    per_second: list[list[tuple[bytes, str]]] = []
    for second in range(seconds):
        chunk = []
        for name in names:
            for frame in range(rate):
                at = start + second + frame / rate
                faces = [FaceSpec(employee_id="EMP-00001", left=0.1)] if rng.random() < 0.2 else []
                if name in visitors and visitors[name] <= second < visitors[name] + 20:
                    faces.append(FaceSpec())
                record = frame_record(name, at, faces, arn=arns[name])
                chunk.append((json.dumps(record, separators=(",", ":")).encode(), name))
        per_second.append(chunk)
    return per_second, len(visitors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--rate", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with LocalStack() as stack:
        stack.subscribe_phones(["+821055501234"])
        per_second, visitors = workload(stack, args.cameras, args.rate, args.seconds)
        total = sum(len(c) for c in per_second)
        processed = Counter[str]()
        ages: list[float] = []
        lock = threading.Lock()
        for poller in stack.pollers:
            inner = poller._invoke

            def counting(event: dict[str, Any], inner: Any = inner) -> Any:
                records = event.get("Records", [])
                source = records[0].get("eventSource", "?") if records else "?"
                if source == "aws:kinesis":  # Lambda's IteratorAge: the batch's oldest record
                    oldest = min(r["kinesis"]["approximateArrivalTimestamp"] for r in records)
                    ages.append(time.time() - oldest)
                result = inner(event)
                with lock:
                    processed[source] += len(records)
                return result

            poller._invoke = counting
        camera_rate = args.cameras * args.rate
        print(f"load: {args.cameras} cameras x {args.rate}/s x {args.seconds} s = {total} records")
        began = time.perf_counter()
        stack.start_background(interval=0.01)
        max_behind = put_so_far = 0
        for chunk in per_second:
            stack.put_records(chunk)
            put_so_far += len(chunk)
            with lock:
                max_behind = max(max_behind, put_so_far - processed["aws:kinesis"])
        put_done = time.perf_counter() - began
        while True:
            with lock:
                if processed["aws:kinesis"] >= total:
                    break
            time.sleep(0.05)
        stack.stop_background()
        stack.pump()
        elapsed = time.perf_counter() - began
        face_events = next(r for n, r in stack.runtimes.items() if n.endswith("face-events"))
        metrics = face_events.metrics()
        alerts = [
            e.detail["incidentId"]
            for e in stack.alert_events()
            if e.detail_type == ALERT_DETAIL_TYPE
        ]
        slack = Counter(p.text().split("incident ")[-1].rstrip(")") for p in stack.slack.posts)
        sms = Counter(text.rsplit(" ", 1)[-1] for _, text in stack.sms_messages())
        lost = total - metrics.get("RecordsIn", 0)
        in_, ok = metrics.get("RecordsIn", 0), metrics.get("RecordsProcessed", 0)
        rejected, retried = metrics.get("RecordsRejected", 0), metrics.get("RecordsRetried", 0)
        lines = [
            f"put all records in {put_done:.1f} s; processed all in {elapsed:.1f} s",
            f"sustained rate: {total / elapsed:,.0f} records/s end to end "
            f"(the cameras produce {camera_rate}/s)",
            f"poller fell behind by at most {max_behind} records "
            f"({max_behind / camera_rate:.1f} s of camera time); "
            f"max iterator age {max(ages):.1f} s",
            f"records in {in_:.0f} = processed {ok:.0f} + rejected {rejected:.0f}; "
            f"redelivered {retried:.0f}; lost {lost:.0f}",
            f"visitors {visitors}: incidents alerted {len(set(alerts))}, "
            f"alert events {len(alerts)}",
            f"Slack posts {sum(slack.values())} (duplicates {sum(v - 1 for v in slack.values())}); "
            f"SMS {sum(sms.values())} (duplicates {sum(v - 1 for v in sms.values())})",
        ]
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
