"""``facewatch demo``, ``facewatch replay`` and ``facewatch canary``: the pipeline without AWS.

demo and replay start a local stack (moto on 127.0.0.1, the project's template, the real
handlers), run, print and stop it. canary runs against any deployed stack (or a local one
with --endpoint-url).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from facewatch.detections.classification import FaceClass, classify
from facewatch.detections.records import ProcessorRecord
from facewatch.settings import FaceEventsSettings, ThresholdSettings
from facewatch_tools.aws_targets import DEFAULT_STACK
from facewatch_tools.listing import add_document_output


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo", help="run a camera scenario through the whole pipeline on this machine"
    )
    demo.add_argument("--scenario", type=Path, help="scenario YAML (default: the shipped demo)")
    demo.add_argument(
        "--speed", type=float, default=10.0, help="time factor (0: as fast as possible)"
    )
    demo.add_argument(
        "--report", type=Path, default=Path("facewatch-demo-report.html"), help="HTML report file"
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the local stacks up after the run, so the report's clip links open (Ctrl-C)",
    )
    demo.set_defaults(func=run_demo)

    replay = subparsers.add_parser(
        "replay",
        help="put recorded processor records through the local pipeline",
        description="FILE: JSON lines, a JSON document or array, a Lambda Kinesis event "
        "(events/*.json), Kinesis {partitionKey, data} records, or base64 data. Each record "
        "rejected is printed as `line N: reason`; exit 1 when nothing could be replayed.",
    )
    replay.add_argument("file", type=Path, help="the records (any of the shapes above)")
    add_document_output(replay)  # json: one object on stdout, nothing else
    replay.set_defaults(func=run_replay)

    canary = subparsers.add_parser(
        "canary", help="prove a deployed stack alerts end to end (a marked test record)"
    )
    canary.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="facewatch stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    canary.add_argument("--region", help="AWS region (default: from the environment)")
    canary.add_argument("--endpoint-url", help="AWS endpoint (a local stack)")
    canary.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    canary.set_defaults(func=run_canary)


# ---- shared ------------------------------------------------------------------------------------
def _detections_runtime(stack: Any) -> Any:
    """The function reading the detections stream (face_events), for its effective settings."""
    stream = stack.detections_stream
    for mapping in stack.deployed.mappings:
        if mapping.source_arn.endswith(f"/{stream}"):
            return stack.runtimes[stack.deployed.function_by_arn(mapping.function_arn).name]
    raise RuntimeError("no function reads the detections stream")


def _unknown_faces(record: ProcessorRecord, thresholds: ThresholdSettings) -> list[FaceClass]:
    return [classify(entry, thresholds).face_class for entry in record.faces]


# ---- demo --------------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace) -> int:
    from facewatch_tools.local.demo import (  # noqa: PLC0415 - loads moto only when run
        Demo,
        serve_until_stopped,
    )

    # Checked before the stack starts: a bad path must not cost a whole demo run.
    if args.scenario is not None and not args.scenario.is_file():
        raise FileNotFoundError(2, "no such scenario file", str(args.scenario))
    if not args.report.resolve().parent.is_dir():
        raise FileNotFoundError(2, "no such folder for the report", str(args.report.parent))
    serve = serve_until_stopped if args.serve else None
    return Demo(args.scenario, args.speed, args.report, sys.stdout, serve=serve).run()


# ---- replay ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReplayLine:
    data: bytes
    partition_key: str
    record: ProcessorRecord | None  # None when the line is not a valid processor record


def parse_line(raw: bytes, number: int) -> ReplayLine:
    """A line as it goes into the stream: the record exactly as written, or the envelope's data."""
    data, key, explicit_key = raw, f"replay-{number}", False
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "data" in parsed and "partitionKey" in parsed:
        inner = parsed["data"]
        data = inner.encode() if isinstance(inner, str) else json.dumps(inner).encode()
        key = str(parsed["partitionKey"]) or key
        explicit_key = bool(parsed["partitionKey"])
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
    record: ProcessorRecord | None = None
    if isinstance(parsed, dict):
        try:
            record = ProcessorRecord.model_validate(parsed)
        except ValueError:
            record = None
    if record is not None and not explicit_key:
        key = record.camera_id  # a camera's records stay in one shard, in order
    return ReplayLine(data, key[:256], record)


def _entries(text: bytes) -> list[tuple[int, bytes]]:
    """(line, raw record) pairs: a JSON document or array (a Lambda Kinesis event's Records
    too) as a whole, else one record a line (JSON lines, or base64 lines)."""
    try:
        whole: Any = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("Records"), list):
        whole = whole["Records"]
    if isinstance(whole, dict):
        whole = [whole]
    if isinstance(whole, list) and text.strip()[:1] in (b"[", b"{"):
        out = []
        for index, item in enumerate(whole, start=1):
            # a Lambda Kinesis event record carries the Kinesis record under "kinesis"
            inner = item["kinesis"] if isinstance(item, dict) and "kinesis" in item else item
            out.append((index, json.dumps(inner).encode()))
        return out
    return [(n, raw) for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def _unwrap(raw: bytes) -> bytes:
    """A base64 line, or an envelope whose data is base64, as the record's own bytes."""
    try:
        json.loads(raw)
        return raw
    except ValueError:
        pass
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
        json.loads(decoded)
    except (ValueError, binascii.Error):
        return raw
    return decoded


def read_lines(path: Path) -> list[tuple[int, ReplayLine]]:
    lines = []
    for number, raw in _entries(path.read_bytes()):
        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw)
        entry = raw
        if isinstance(parsed, dict) and isinstance(parsed.get("data"), str):
            parsed["data"] = _unwrap(parsed["data"].encode()).decode(errors="replace")
            entry = json.dumps(parsed).encode()
        lines.append((number, parse_line(_unwrap(entry), number)))
    return lines


def reject_reason(line: ReplayLine) -> str:
    from facewatch.detections.rejects import reason_for  # noqa: PLC0415

    try:
        ProcessorRecord.model_validate_json(line.data)
    except ValueError as exc:
        return reason_for(exc)
    return "not a processor record"


def _nothing_to_replay(count: int) -> dict[str, Any]:
    """The result when no line is a processor record: the pipeline would reject every one of
    them for the reason printed (the same model), so no stack is started for it."""
    return {
        "records": count,
        "rejected": count,
        "faces": {"known": 0, "unknown": 0, "ignored": 0},
        "incidents": [],
        "notifications": {"slack": 0, "sms": 0},
    }


def replay(path: Path, environ: dict[str, str], log: TextIO) -> dict[str, Any]:
    from facewatch_tools.local import LocalStack  # noqa: PLC0415

    numbered = read_lines(path)
    for number, line in numbered:
        if line.record is None:
            print(f"line {number}: {reject_reason(line)}", file=log)
    lines = [line for _, line in numbered]
    if not any(line.record is not None for line in lines):
        print(f"nothing to replay: none of the {len(lines)} records is valid", file=log)
        return _nothing_to_replay(len(lines))
    with LocalStack(overrides=environ) as stack:
        runtime = _detections_runtime(stack)
        # A bad setting (MIN_DETECTIONS=abc) would fail every invocation unseen: say it instead.
        FaceEventsSettings.from_env(runtime.environment)
        thresholds = ThresholdSettings.from_env(runtime.environment)
        print(f"replaying {len(lines)} records into {stack.detections_stream}", file=log)
        for line in lines:  # one at a time: the stream keeps the file's order
            stack.put_records([(line.data, line.partition_key)])
        stack.pump()
        faces = {"known": 0, "unknown": 0, "ignored": 0}
        for line in lines:
            if line.record is not None:
                for face_class in _unknown_faces(line.record, thresholds):
                    faces[face_class.value] += 1
        rejected_queue = stack.deployed.outputs["RejectedRecordsQueueUrl"]
        rejected = stack.client("sqs").get_queue_attributes(
            QueueUrl=rejected_queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        return {
            "records": len(lines),
            "rejected": int(rejected),
            "faces": faces,
            "incidents": [row.as_json() for row in stack.incidents()],
            "notifications": {"slack": len(stack.slack.posts), "sms": len(stack.sms_messages())},
        }


def run_replay(args: argparse.Namespace) -> int:
    out = sys.stdout
    if not args.file.is_file():
        print(f"facewatch replay: no such file: {args.file}", file=sys.stderr)
        return 1
    # Nothing but the result may reach stdout with --json: whatever else prints goes to stderr.
    sys.stdout = sys.stderr
    try:
        result = replay(args.file, dict(os.environ), sys.stderr)
    finally:
        sys.stdout = out
    replayed = result["records"] - result["rejected"]
    if args.output == "json":
        out.write(json.dumps(result) + "\n")
        return 0 if replayed > 0 else 1
    from facewatch_tools.local.outcome import IncidentRow  # noqa: PLC0415
    from facewatch_tools.local.report import incident_table  # noqa: PLC0415

    rows = [
        IncidentRow(
            i["incidentId"],
            i["cameraId"],
            i["firstSeen"],
            i["lastSeen"],
            i["detections"],
            i["alerted"],
            i["clipUrl"],
        )
        for i in result["incidents"]
    ]
    faces, notes = result["faces"], result["notifications"]
    out.write(
        f"{result['records']} records, {result['rejected']} rejected; faces: "
        f"{faces['known']} known, {faces['unknown']} unknown, {faces['ignored']} ignored\n\n"
        f"{incident_table(rows) if rows else 'no incidents'}\n\n"
        f"notifications: {notes['slack']} Slack, {notes['sms']} SMS\n"
    )
    return 0 if replayed > 0 else 1


# ---- canary ------------------------------------------------------------------------------------
def canary_clients(region: str | None, endpoint_url: str | None) -> Callable[[str], Any]:
    import boto3  # noqa: PLC0415

    session = boto3.Session(region_name=region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint_url)
        return made[service]

    return client


def run_canary(args: argparse.Namespace) -> int:
    from facewatch_tools.canary import Canary, CanaryError  # noqa: PLC0415

    canary = Canary(
        canary_clients(args.region, args.endpoint_url), args.stack, timeout=args.timeout
    )
    started = time.time()
    try:
        result = canary.run()
    except CanaryError as exc:
        print(f"canary FAILED on {args.stack}: {exc}", file=sys.stderr)
        return 1
    print(
        f"canary OK on {args.stack}: {result.frames} frames of {result.camera_id} -> "
        f"incident {result.incident_id} stored after {result.incident_after:.2f} s, "
        f"alert event after {result.alert_after:.2f} s (test={str(result.test_flag).lower()}); "
        f"cleaned up in {time.time() - started - result.alert_after:.2f} s"
    )
    return 0
