"""Slack's 3 s: cold start to answer of the slack_actions function, with and without a CPU quota.

Each run is a fresh Python process that imports functions/slack_actions/app.py (its cold start)
and answers one signed click: signing secret and allow-list from Secrets Manager, the replay
guard's conditional put, the click recorded on the clicks queue. AWS is a local moto server, so
network time to AWS is not in the numbers (add one round trip per call: 3 secret reads are
cached after the first, so 4 calls on a cold start).

The quota stands in for Lambda's 256 MB (about 15% of a vCPU): a cgroup v2 ``cpu.max`` when
the host has a cgroup v2 cpu controller, else cgroup v1 ``cpu.cfs_quota_us``; without either
(or without root) the quota rows are skipped and the bench says so. "no bytecode" runs with an
empty ``PYTHONPYCACHEPREFIX`` (every module compiled from source, as a layer without .pyc).

Run: .venv/bin/python bench/slack_cold_start_bench.py [--runs 5] [--quota 0.15]
(prints numbers; asserts nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import resource as resource_usage
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ (the template's table) when run from anywhere

from facewatch_tools.template import resource  # noqa: E402

REGION = "ap-northeast-2"
SECRET = "bench-signing-secret-0123456789abcdef"  # pragma: allowlist secret
TARGET_SECONDS = 1.5
TABLE = "facewatch-bench-incidents"
PERIOD_US = 100_000

CHILD = r"""
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("slack_actions_app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
imported = time.perf_counter()

class Context:
    function_name = "facewatch-bench-slack-actions"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:bench"
    aws_request_id = "bench"

event = json.loads(sys.stdin.read())
status = app.lambda_handler(event, Context())["statusCode"]
done = time.perf_counter()
print(json.dumps({"status": status, "import": imported - start, "answer": done - start}))
"""


def _cgroup_v2_cpu() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, kind, *_ = line.split()
        controllers = Path(mount) / "cgroup.controllers"
        if kind == "cgroup2" and controllers.exists() and "cpu" in controllers.read_text().split():
            return Path(mount)
    return None


@contextmanager
def cpu_quota(fraction: float) -> Iterator[tuple[str, Path] | None]:
    """A cgroup limited to ``fraction`` of one CPU: (kind, cgroup.procs), or None."""
    name = f"facewatch-bench-{os.getpid()}"
    v2 = _cgroup_v2_cpu()
    candidates = []
    if v2 is not None:
        candidates.append(("cgroup v2 cpu.max", v2 / name, "cpu.max"))
    candidates.append(("cgroup v1 cpu.cfs_quota_us", Path("/sys/fs/cgroup/cpu") / name, ""))
    for kind, path, _ in candidates:
        try:
            path.mkdir()
        except OSError:
            continue
        try:
            quota = int(fraction * PERIOD_US)
            if kind.startswith("cgroup v2"):
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
            yield kind, path / "cgroup.procs"
            return
        except OSError:
            continue
        finally:
            path.rmdir()
    yield None


def signed_event(at: int, n: int) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "events" / "slack_actions_acknowledge.json").read_text()
    )
    event["body"] = event["body"].replace("1772323260.000200", f"{at}.{n:06d}")  # a new signature
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=str(at), body=event["body"])
    event["headers"]["x-slack-request-timestamp"] = str(at)
    event["headers"]["x-slack-signature"] = signature
    return event


def prepare(endpoint: str) -> dict[str, str]:
    session = boto3.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
    )
    props = resource("IncidentsTable")["Properties"]
    session.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    secrets = session.client("secretsmanager", endpoint_url=endpoint)
    signing = secrets.create_secret(Name="bench/slack-signing", SecretString=SECRET)["ARN"]
    allow = secrets.create_secret(
        Name="bench/slack-allow-list",
        SecretString=json.dumps({"teamIds": "T0FACEWATCH", "channelIds": "C0SECURITY"}),
    )["ARN"]
    queue = session.client("sqs", endpoint_url=endpoint).create_queue(QueueName="bench-clicks")
    return {
        "TABLE_NAME": TABLE,
        "SLACK_SIGNING_SECRET_ARN": signing,
        "SLACK_ALLOW_LIST_SECRET_ARN": allow,
        "SLACK_CLICKS_QUEUE_URL": queue["QueueUrl"],
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "facewatch",
        "POWERTOOLS_METRICS_NAMESPACE": "FacewatchBench",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def run_once(
    env: dict[str, str], event: dict[str, Any], procs: Path | None, bytecode: bool
) -> dict[str, float]:
    child_env = {**os.environ, **env}
    with tempfile.TemporaryDirectory() as empty:
        if not bytecode:
            child_env["PYTHONPYCACHEPREFIX"] = empty  # no cached bytecode anywhere
            child_env["PYTHONDONTWRITEBYTECODE"] = "1"
        argv = [sys.executable, "-c", CHILD, str(ROOT / "functions" / "slack_actions" / "app.py")]
        if procs is not None:  # join the cgroup, then become the interpreter (same pid)
            argv = ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", *argv]
        before = resource_usage.getrusage(resource_usage.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            argv,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=child_env,
            check=False,
        )
        wall = time.perf_counter() - started
        after = resource_usage.getrusage(resource_usage.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    timings: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if timings["status"] != 200:
        raise RuntimeError(f"answered {timings['status']}: {result.stderr[-1000:]}")
    return {"process": wall, "cpu": cpu, "import": timings["import"], "answer": timings["answer"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quota", type=float, default=0.15, help="CPU fraction (256 MB ~ 0.15)")
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = prepare(f"http://{host}:{port}")
    n = 0
    rows = []
    try:
        with cpu_quota(args.quota) as quota:
            configs: list[tuple[str, Path | None]] = [("full core", None)]
            if quota is not None:
                configs.append((f"{args.quota:.0%} CPU ({quota[0]})", quota[1]))
            else:
                print("no CPU quota available here (no writable cgroup v2 cpu.max or v1 cpu "
                      "controller, or not root): only full-core rows")  # fmt: skip
            for label, procs in configs:
                for bytecode in (True, False):
                    samples = []
                    for _ in range(args.runs):
                        n += 1
                        at = int(time.time())
                        samples.append(run_once(env, signed_event(at, n), procs, bytecode))
                    rows.append((label, bytecode, samples))
    finally:
        server.stop()
    print(f"slack_actions cold start -> answer ({args.runs} fresh processes each; moto server)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = ["CPU", "bytecode", "import s", "answer s", "process s", "max s", "CPU s"]
    print(f"{header[0]:<40} {header[1]:<9}" + "".join(f"{h:>10}" for h in header[2:]))
    for label, bytecode, samples in rows:
        numbers = [
            statistics.median(r[key] for r in samples) for key in ("import", "answer", "process")
        ]
        numbers += [
            max(r["process"] for r in samples),
            statistics.median(r["cpu"] for r in samples),
        ]
        row = f"{label:<40} {'yes' if bytecode else 'no':<9}"
        print(row + "".join(f"{n:>10.2f}" for n in numbers))
    print("CPU s: user+system seconds of the process; at a quota q an idle host answers in")
    print("about CPU s / q (the wall times above include this shared host's other load).")
    print(f"target: answer (process start to 200) <= {TARGET_SECONDS} s at the quota")
    return 0


if __name__ == "__main__":
    sys.exit(main())
