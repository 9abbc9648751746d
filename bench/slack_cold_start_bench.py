"""Slack's 3 s: cold start to answer of the slack_actions function, with and without a CPU quota.

What one run is: a fresh Python process (``python -S`` with the function's directory, the
layer's source and the venv's packages on PYTHONPATH, as Lambda puts /var/task and /opt/python
there: no .pth processing, so this venv's editable-install finder is not counted) imports what
Lambda's runtime imports before the handler (awslambdaric's bootstrap), then
functions/slack_actions/app.py, and answers one real-shaped signed click (events/
slack_actions_acknowledge.json, a fresh timestamp and signature): the signing secret and the
allow-list from Secrets Manager, the replay guard's conditional put, the click sent to the
clicks queue, 200. The bench then checks the click is on the queue and the guard's item is in
the table, so a 200 that recorded nothing cannot pass.

AWS is a moto server in this (parent) process behind TLS with a self-signed certificate; the
child trusts it through AWS_CA_BUNDLE: Amazon Trust Services' five roots (what the function
loads in Lambda, facewatch.aws_roots) plus that certificate, so the child pays what it pays
there: the roots and the TLS handshakes (one more than in Lambda: moto's server closes the
connection after each answer, so the second secret read connects again). moto's own
work is outside the child: not in its CPU seconds, in its wall time (at full speed; real AWS
adds a network round trip per call, 4 calls and 3 handshakes on a cold start, and the Lambda
runtime's own start, neither of which is here).

Numbers: ``answer s`` is wall time from spawning the process to the 200, ``CPU s`` the child's
CPU time (user + system) at the 200; ``runtime`` of that before the handler module's import
(interpreter and runtime imports), ``import`` in it. The quota stands in
for Lambda's 256 MB (256/1769 of a vCPU = 14.5%): a cgroup v2 ``cpu.max`` when the host has a
cgroup v2 cpu controller, else cgroup v1 ``cpu.cfs_quota_us``; without either (or without
root) the quota rows are skipped and the bench says so. "no bytecode" runs a copy of the
function, the layer's package and botocore's packages without any .pyc (a layer built without
bytecode); the stdlib keeps its .pyc, as Lambda's runtime has them.

``--floors`` adds the interpreter with the runtime's imports alone (what no change to the
function can remove) and with botocore imported and its three clients made (what the function
used before: over the budget before its first call). Results: docs/benchmarks.md.

Run: .venv/bin/python bench/slack_cold_start_bench.py [--runs 9] [--quota 0.145] [--floors]
(prints numbers; asserts nothing but the recorded click).
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import ipaddress
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import BaseWSGIServer, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ (the template's table) when run from anywhere

from facewatch.aws_roots import AWS_ROOTS_PEM  # noqa: E402
from facewatch_tools.template import resource  # noqa: E402

REGION = "ap-northeast-2"
SECRET = "bench-signing-secret-0123456789abcdef"  # pragma: allowlist secret
TARGET_SECONDS = 1.5
LAMBDA_256_MB = 256 / 1769  # Lambda: 1,769 MB is one vCPU, CPU in proportion to memory
TABLE = "facewatch-bench-incidents"
PERIOD_US = 100_000

# What the Lambda runtime imports before the handler module (awslambdaric's bootstrap,
# context, marshaller and runtime client; its C extension and simplejson are not here).
RUNTIME = (
    "import importlib, json, logging, os, sys, time, traceback, datetime, enum, decimal, math,"
    " concurrent.futures"
)
CHILD_FRONT = (
    RUNTIME
    + r"""
runtime = time.process_time()
import importlib.util
spec = importlib.util.spec_from_file_location("slack_actions_app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
imported = time.process_time()

class Context:
    function_name = "facewatch-bench-slack-actions"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:bench"
    aws_request_id = "bench"

event = json.loads(sys.stdin.read())
status = app.lambda_handler(event, Context())["statusCode"]
done = time.process_time()
print(json.dumps({"status": status, "at": time.time(), "runtime": runtime,
                  "cpu_import": imported - runtime, "cpu": done}))
"""
)
CHILD_INTERPRETER = (
    RUNTIME
    + r"""
runtime = time.process_time()
sys.stdin.read()
print(json.dumps({"status": 200, "at": time.time(), "runtime": runtime, "cpu_import": 0.0,
                  "cpu": time.process_time()}))
"""
)
CHILD_BOTOCORE = (
    RUNTIME
    + r"""
runtime = time.process_time()
import botocore.session
from botocore.config import Config
imported = time.process_time()
session = botocore.session.get_session()
config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=1)
for service in ("secretsmanager", "dynamodb", "sqs"):
    session.create_client(service, config=config)
sys.stdin.read()
print(json.dumps({"status": 200, "at": time.time(), "runtime": runtime,
                  "cpu_import": imported - runtime, "cpu": time.process_time()}))
"""
)


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
        candidates.append(("cgroup v2 cpu.max", v2 / name))
    candidates.append(("cgroup v1 cpu.cfs_quota_us", Path("/sys/fs/cgroup/cpu") / name))
    for kind, path in candidates:
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


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the moto server's TLS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facewatch bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "bench.pem", directory / "bench.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _ca_bundle(directory: Path, cert: Path) -> Path:
    """What the function trusts first in Lambda (Amazon Trust Services' five roots) plus the
    bench's certificate: the same loading cost as the real thing, six certificates."""
    bundle = directory / "ca-bundle.pem"
    bundle.write_text(AWS_ROOTS_PEM + cert.read_text())
    return bundle


@contextmanager
def tls_moto(directory: Path) -> Iterator[tuple[str, Path]]:
    cert, key = _certificate(directory)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    app = DomainDispatcherApplication(create_backend_app)
    tls = (str(cert), str(key))
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, True, request_handler=MotoRequestHandler, ssl_context=tls
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", _ca_bundle(directory, cert)
    finally:
        server.shutdown()
        thread.join()


def signed_event(at: int, n: int) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "events" / "slack_actions_acknowledge.json").read_text()
    )
    event["body"] = event["body"].replace("1772323260.000200", f"{at}.{n:06d}")  # a new signature
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=str(at), body=event["body"])
    event["headers"]["x-slack-request-timestamp"] = str(at)
    event["headers"]["x-slack-signature"] = signature
    return event


class Aws:
    """The bench's own view of the moto server: the resources, and what a run recorded."""

    def __init__(self, endpoint: str, bundle: Path) -> None:
        session = boto3.Session(
            aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
        )
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint, verify=str(bundle))
        self.sqs = session.client("sqs", endpoint_url=endpoint, verify=str(bundle))
        secrets = session.client("secretsmanager", endpoint_url=endpoint, verify=str(bundle))
        props = resource("IncidentsTable")["Properties"]
        self.dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        )
        signing = secrets.create_secret(Name="bench/slack-signing", SecretString=SECRET)["ARN"]
        allow = secrets.create_secret(
            Name="bench/slack-allow-list",
            SecretString=json.dumps({"teamIds": "T0FACEWATCH", "channelIds": "C0SECURITY"}),
        )["ARN"]
        self.queue_url = self.sqs.create_queue(QueueName="bench-clicks")["QueueUrl"]
        self.env = {
            "TABLE_NAME": TABLE,
            "SLACK_SIGNING_SECRET_ARN": signing,
            "SLACK_ALLOW_LIST_SECRET_ARN": allow,
            "SLACK_CLICKS_QUEUE_URL": self.queue_url,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CA_BUNDLE": str(bundle),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",  # pragma: allowlist secret
            "AWS_SESSION_TOKEN": "bench-session-token",  # Lambda's role credentials have one
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "facewatch",
            "POWERTOOLS_METRICS_NAMESPACE": "FacewatchBench",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }

    def assert_recorded(self, event: dict[str, Any]) -> None:
        """The click is on the queue (the signed payload) and the replay guard has its item."""
        body = event["body"]
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
        for m in messages.get("Messages", []):
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        assert len(bodies) == 1 and bodies[0]["version"] == 1, bodies
        assert bodies[0]["payload"] == parse_qs(body)["payload"][0], "not the signed payload"
        key = f"SLACKSIG#{event['headers']['x-slack-signature']}"
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"PK": {"S": key}, "SK": {"S": "SLACKSIG"}}
        )
        assert "Item" in item, "the replay guard wrote nothing"


SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
BOTOCORE_PACKAGES = ("botocore", "urllib3", "jmespath", "dateutil", "six.py")


def source_trees(directory: Path) -> dict[bool, list[Path]]:
    """PYTHONPATH with bytecode (the repository, compiled as `make build` compiles the layer)
    and without (a copy without any .pyc: the function, the layer and botocore's packages;
    the stdlib keeps its bytecode, as Lambda's runtime has it)."""
    function, layer = ROOT / "functions" / "slack_actions", ROOT / "layers" / "facewatch"
    for tree in (function, layer / "facewatch"):
        compileall.compile_dir(tree, quiet=1)  # timestamp checked: later edits still count
    bare = directory / "bare"
    no_pyc = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(function, bare / "task", ignore=no_pyc)
    shutil.copytree(layer / "facewatch", bare / "layer" / "facewatch", ignore=no_pyc)
    for name in BOTOCORE_PACKAGES:
        source = SITE_PACKAGES / name
        if name == "botocore":  # its data (service models) is linked, not copied
            no_data = shutil.ignore_patterns("__pycache__", "*.pyc", "data")
            shutil.copytree(source, bare / "layer" / name, ignore=no_data)
        elif source.is_dir():
            shutil.copytree(source, bare / "layer" / name, ignore=no_pyc)
        else:
            shutil.copy2(source, bare / "layer" / name)
    (bare / "layer" / "botocore" / "data").symlink_to(SITE_PACKAGES / "botocore" / "data")
    return {
        True: [function, layer, SITE_PACKAGES],
        False: [bare / "task", bare / "layer", SITE_PACKAGES],
    }


def run_once(
    code: str, env: dict[str, str], event: dict[str, Any], procs: Path | None, path: list[Path]
) -> dict[str, float]:
    child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    child_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"  # the bare tree stays bare
    argv = [sys.executable, "-S", "-c", code, str(path[0] / "app.py")]
    if procs is not None:  # join the cgroup, then become the interpreter (same pid)
        argv = ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", *argv]
    spawned = time.time()
    result = subprocess.run(
        argv, input=json.dumps(event), capture_output=True, text=True, env=child_env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    timings: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if timings["status"] != 200:
        raise RuntimeError(f"answered {timings['status']}: {result.stderr[-1000:]}")
    return {
        "answer": timings["at"] - spawned,
        "cpu": timings["cpu"],
        "runtime": timings["runtime"],
        "cpu_import": timings["cpu_import"],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quota", type=float, default=LAMBDA_256_MB, help="CPU fraction")
    parser.add_argument("--floors", action="store_true", help="interpreter and botocore rows")
    args = parser.parse_args()
    programs = [("slack_actions", CHILD_FRONT)]
    if args.floors:
        programs += [
            ("interpreter only", CHILD_INTERPRETER),
            ("botocore + 3 clients", CHILD_BOTOCORE),
        ]
    rows = []
    n = 0
    with tempfile.TemporaryDirectory() as directory, tls_moto(Path(directory)) as (url, bundle):
        aws = Aws(url, bundle)
        trees = source_trees(Path(directory))
        with cpu_quota(args.quota) as quota:
            configs: list[tuple[str, Path | None]] = [("full core", None)]
            if quota is not None:
                configs.append((f"{args.quota:.1%} CPU ({quota[0]})", quota[1]))
            else:
                print("no CPU quota available here (no writable cgroup v2 cpu.max or v1 cpu "
                      "controller, or not root): only full-core rows")  # fmt: skip
            for program, code in programs:
                for label, procs in configs:
                    for bytecode in (True, False):
                        samples = []
                        for _ in range(args.runs):
                            n += 1
                            event = signed_event(int(time.time()), n)
                            samples.append(run_once(code, aws.env, event, procs, trees[bytecode]))
                            if code is CHILD_FRONT:
                                aws.assert_recorded(event)
                        rows.append((program, label, bytecode, samples))
    print(f"cold start -> answer ({args.runs} fresh processes each; moto over TLS)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = ["program", "CPU", "bytecode", "answer s", "max s", "CPU s", "runtime", "import"]
    columns = "".join(f"{h:>10}" for h in header[3:])
    print(f"{header[0]:<22} {header[1]:<38} {header[2]:<9}{columns}")
    for program, label, bytecode, samples in rows:
        numbers = [
            statistics.median(r["answer"] for r in samples),
            max(r["answer"] for r in samples),
            statistics.median(r["cpu"] for r in samples),
            statistics.median(r["runtime"] for r in samples),
            statistics.median(r["cpu_import"] for r in samples),
        ]
        row = f"{program:<22} {label:<38} {'yes' if bytecode else 'no':<9}"
        print(row + "".join(f"{x:>10.3f}" for x in numbers))
    print("CPU s: the child's user+system seconds at the 200; runtime: of that, the interpreter")
    print("and the Lambda runtime's imports; import: the handler module's. At a quota q an idle")
    print("host answers in about CPU s / q (wall times include this shared host's other load).")
    print(f"target: answer (process start to 200) <= {TARGET_SECONDS} s at the quota")
    return 0


if __name__ == "__main__":
    sys.exit(main())
