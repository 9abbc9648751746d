"""`facewatch cameras plan|apply|status|cost`: reconcile cameras.yaml with AWS.

One CloudFormation stack per camera (camera-template.yaml), a registry in the table, a quota
check before anything is created. `apply` prints the plan first, is idempotent (a second run
does nothing) and can be re-run after a partial failure.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from facewatch.fleet.inventory import InventoryError, load_inventory
from facewatch.fleet.registry import Registry, RegistryPlan
from facewatch_tools.aws_targets import DEFAULT_STACK
from facewatch_tools.cli.errors import EXIT_RUNTIME
from facewatch_tools.fleet.costs import CostAssumptions, cost_table
from facewatch_tools.fleet.quotas import QuotaCheck, QuotaClients, check_quotas
from facewatch_tools.fleet.regions import check_region, stream_processor_access
from facewatch_tools.fleet.stacks import (
    DEFAULT_TEMPLATE,
    VIDEO_ONLY,
    Action,
    CloudFormationEngine,
    MainStack,
    Plan,
    StackEngine,
    apply,
    desired_stacks,
    plan,
    read_main_stack,
)

# Throttling: adaptive retry mode backs off and slows the client down (botocore).
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


def aws_session(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The session for --region and the client options for --endpoint-url and retries."""
    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    options: dict[str, Any] = {"config": RETRIES}
    if args.endpoint_url:
        options["endpoint_url"] = args.endpoint_url
    return session, options


@dataclass
class Clients:
    """The AWS clients the fleet commands use (tests pass moto/Stubber-backed ones)."""

    cloudformation: Any
    rekognition: Any
    kinesis: Any
    service_quotas: Any
    dynamodb: Any  # the service resource
    iam: Any = None  # for the quota check (roles); None: not checked
    lambda_: Any = None  # for the quota check (concurrency); None: not checked

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Clients:
        session, kw = aws_session(args)
        return cls(
            cloudformation=session.client("cloudformation", **kw),
            rekognition=session.client("rekognition", **kw),
            kinesis=session.client("kinesis", **kw),
            service_quotas=session.client("service-quotas", **kw),
            dynamodb=session.resource("dynamodb", **kw),
            iam=session.client("iam", **kw),
            lambda_=session.client("lambda", **kw),
        )


@dataclass
class Context:
    main: MainStack
    body: str
    engine: StackEngine
    args: argparse.Namespace
    clients: Clients

    def plan(self) -> Plan:
        inventory = load_inventory(Path(self.args.inventory))
        desired = desired_stacks(inventory, self.main, self.body, self.args.retention_hours)
        return plan(desired, self.engine.camera_stacks(self.main.name), self.args.prune)

    def registry(self) -> Registry | None:
        table = self.main.outputs.get("TableName")
        return Registry(self.clients.dynamodb.Table(table)) if table else None

    def registry_plan(self, current: Plan) -> RegistryPlan | None:
        registry = self.registry()
        if registry is None:
            return None
        names = {
            c.camera_id: c.desired.processor_name
            for c in current.changes
            if c.desired is not None and c.desired.processor_name
        }
        inventory = load_inventory(Path(self.args.inventory))
        return registry.plan(inventory, names, self.args.prune)


def _progress(line: str) -> None:
    print(line, flush=True)


def _context(args: argparse.Namespace, clients: Clients, engine: StackEngine | None) -> Context:
    try:
        main = read_main_stack(clients.cloudformation, args.stack)
    except clients.cloudformation.exceptions.ClientError as exc:
        if "does not exist" not in exc.response.get("Error", {}).get("Message", ""):
            raise
        raise SystemExit(
            f"main stack {args.stack!r} does not exist in this account and region: deploy it "
            "first (docs/deploy.md), or pass --stack / --region"
        ) from exc
    body = Path(args.template).read_text(encoding="utf-8")
    return Context(
        main,
        body,
        engine or CloudFormationEngine(clients.cloudformation, echo=_progress),
        args,
        clients,
    )


def print_plan(current: Plan, registry: RegistryPlan | None) -> None:
    width = max([len(c.camera_id) for c in current.changes] + [6])
    print(f"{'camera':<{width}}  {'action':<8} stack / why")
    for change in current.changes:
        why = "; ".join(change.reasons)
        print(
            f"{change.camera_id:<{width}}  {change.action.value:<8} {change.stack_name}"
            + (f" ({why})" if why else "")
        )
    counts = {a.value: len(current.by_action(a)) for a in Action if current.by_action(a)}
    print("stacks: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    video_only = [c.camera_id for c in current.changes if c.detector == VIDEO_ONLY]
    if video_only:
        print("recognition off (privacy profile), video stream only: " + ", ".join(video_only))
    if registry is None:
        print("registry: main stack has no TableName output; skipped")
    else:
        print(f"registry: {len(registry.put)} item(s) to write, {len(registry.delete)} to delete")


def capability_report(ctx: Context, current: Plan) -> tuple[bool, int | None]:
    """Can each camera's detector run where it is? Its Region (the capability table) and, for
    stream processors, the account. (ok, processors in use when they were listed)."""
    default_region = ctx.clients.rekognition.meta.region_name
    ok = True
    for change in current.changes:
        if change.desired is None:
            continue
        camera = change.desired.camera
        region = getattr(camera, "region", None) or default_region
        detector = None if change.detector == VIDEO_ONLY else camera.detector
        refusal = check_region(camera.id, detector, region)
        if refusal is not None:
            print("REFUSED " + refusal.message())
            ok = False
    wants_processors = any(
        c.desired is not None and c.detector == "stream-processor" for c in current.changes
    )
    if not wants_processors or ctx.args.endpoint_url:
        return ok, None
    access = stream_processor_access(ctx.clients.rekognition)
    print(("" if access.can_create else "WARNING ") + access.advice())
    if access.can_create is False:
        ok = False
    return ok, access.processors_in_use


def quota_report(
    ctx: Context, current: Plan, processors_in_use: int | None = None
) -> list[QuotaCheck] | None:
    if ctx.args.endpoint_url:
        # A local emulator has no quotas (and answers 500, which the retries would wait out).
        print("quotas: not checked against a local endpoint")
        return None
    clients = QuotaClients(
        service_quotas=ctx.clients.service_quotas,
        rekognition=ctx.clients.rekognition,
        kinesis=ctx.clients.kinesis,
        cloudformation=ctx.clients.cloudformation,
        iam=ctx.clients.iam,
        lambda_=ctx.clients.lambda_,
    )
    try:
        checks = check_quotas(current, clients, processors_in_use)
    except Exception as exc:  # e.g. no Service Quotas in a local endpoint: say so, go on
        print(f"quotas: not checked ({type(exc).__name__}: {exc})")
        return None
    for check in checks:
        print(("quota ok: " if check.ok else "quota ") + check.advice())
    return checks


# Exports camera stacks import (camera-template.yaml) by detector; an older main stack lacks
# some, and an import of a missing export fails the camera stack.
REQUIRED_OUTPUTS = {
    "stream-processor": (
        "FaceEventsFunctionArn",
        "StreamFailureQueueArn",
        "ProcessorControlFunctionArn",
    ),
    "sampler": ("SamplerFunctionArn",),
}


def missing_outputs(ctx: Context, current: Plan) -> list[str]:
    detectors = {c.detector for c in current.changes if c.desired}
    needed = [name for det, names in REQUIRED_OUTPUTS.items() if det in detectors for name in names]
    return [name for name in needed if name not in ctx.main.exported]


def missing_message(ctx: Context, missing: list[str]) -> str:
    return (
        f"main stack {ctx.main.name} lacks exported outputs {', '.join(missing)}: deploy it first"
    )


def run_plan(args: argparse.Namespace, clients: Clients, engine: StackEngine | None = None) -> int:
    ctx = _context(args, clients, engine)
    current = ctx.plan()
    print_plan(current, ctx.registry_plan(current))
    runnable, processors_in_use = capability_report(ctx, current)
    checks = quota_report(ctx, current, processors_in_use)
    missing = missing_outputs(ctx, current)
    if missing:
        print(missing_message(ctx, missing))
    invalid = current.by_action(Action.INVALID)
    failed = invalid or missing or not runnable or (checks and not all(c.ok for c in checks))
    return EXIT_RUNTIME if failed else 0


def _refuse_apply(ctx: Context, current: Plan) -> str | None:
    """Why apply must not start (invalid cameras, missing exports, detectors that cannot run,
    quotas), or None."""
    if current.by_action(Action.INVALID):
        return "fix the invalid cameras first"
    missing = missing_outputs(ctx, current)
    if missing:
        return missing_message(ctx, missing)
    if not current.pending:
        return None
    runnable, processors_in_use = capability_report(ctx, current)
    if not runnable:
        return "refusing to apply: these cameras cannot run where they are (see above)"
    checks = quota_report(ctx, current, processors_in_use)
    if checks and not all(c.ok for c in checks) and not ctx.args.ignore_quotas:
        return "refusing to apply: raise the quotas above first (or --ignore-quotas)"
    return None


def run_apply(args: argparse.Namespace, clients: Clients, engine: StackEngine | None = None) -> int:
    ctx = _context(args, clients, engine)
    current = ctx.plan()
    registry_plan = ctx.registry_plan(current)
    print_plan(current, registry_plan)
    refusal = _refuse_apply(ctx, current)
    if refusal:
        print(refusal)
        return EXIT_RUNTIME
    nothing = not current.pending and not current.by_action(Action.WAIT)
    if nothing and (registry_plan is None or registry_plan.empty):
        print("nothing to do")
        return 0
    if not args.yes and sys.stdin.isatty() and input("apply this plan? [y/N] ").lower() != "y":
        print("cancelled")
        return 1
    result = apply(ctx.plan, ctx.engine, ctx.body, batch_size=args.batch_size)
    for name, status in sorted(result.failed.items()):
        print(f"FAILED {name}: {status} (see its stack events; re-run apply to retry)")
    # The registry follows the stacks: processor names must exist before the watchdog reads them.
    registry = ctx.registry()
    if registry is not None:
        final = ctx.registry_plan(ctx.plan())
        if final is not None and not final.empty:
            registry.apply(final)
            print(f"registry: wrote {len(final.put)}, deleted {len(final.delete)}")
    print(
        f"stacks: {len(result.done)} changed, {result.unchanged} unchanged, "
        f"{len(result.failed)} failed"
    )
    return 0 if result.ok else 1


def describe_processor(clients: Clients, name: str) -> str:
    try:
        found = clients.rekognition.describe_stream_processor(Name=name)
    except clients.rekognition.exceptions.ResourceNotFoundException:
        return "MISSING"
    return str(found.get("Status", "?"))


def run_status(
    args: argparse.Namespace, clients: Clients, engine: StackEngine | None = None
) -> int:
    ctx = _context(args, clients, engine)
    stacks = ctx.engine.camera_stacks(ctx.main.name)
    table_name = ctx.main.outputs.get("TableName")
    table = clients.dynamodb.Table(table_name) if table_name else None
    inventory = load_inventory(Path(args.inventory))
    ids = sorted({c.id for c in inventory.cameras} | set(stacks))
    print(f"{'camera':<28} {'stack':<22} {'processor':<10} health")
    for cam in ids:
        state = stacks.get(cam)
        processor = "-"
        name = state.parameters.get("ProcessorName") if state else None
        if state and state.parameters.get("Detector") == "stream-processor" and name:
            processor = "n/a" if args.endpoint_url else describe_processor(clients, name)
        health = "-"
        if table is not None:
            item = table.get_item(Key={"PK": f"CAMERA#{cam}", "SK": "HEALTH"}).get("Item")
            if item:
                h = item["health"]
                health = f"{h['status']} ({h['reason']})"
        print(f"{cam:<28} {state.status if state else 'NOT DEPLOYED':<22} {processor:<10} {health}")
    return 0


def run_cost(args: argparse.Namespace) -> int:
    inventory = load_inventory(Path(args.inventory))
    assume = CostAssumptions(
        retention_hours=args.retention_hours,
        bitrate_mbps=args.bitrate_mbps,
        sampler_interval_seconds=args.sampler_interval,
    )
    print(cost_table(inventory, assume))
    print(
        f"\nAssumptions: {assume.bitrate_mbps} Mbit/s video, {assume.retention_hours} h "
        f"retention, sampler every {assume.sampler_interval_seconds:g} s; us-east-1 list "
        "prices (facewatch_tools/fleet/costs.py). Streams only in scheduled hours."
    )
    return 0


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            if fn is run_cost:
                return int(fn(args))
            return int(fn(args, Clients.from_args(args)))
        except InventoryError as exc:
            print(exc, file=sys.stderr)
            return EXIT_RUNTIME

    return run


def retention_hours(text: str) -> int:
    """Clips, frame sampling and next-morning review need the video kept at least a day."""
    hours = int(text)
    if hours < 24:
        raise argparse.ArgumentTypeError("KVS retention must be at least 24 hours")
    return hours


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cameras", help="reconcile cameras.yaml with AWS")
    commands = parser.add_subparsers(dest="cameras_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--inventory", default="cameras.yaml", help="camera inventory file")
    common.add_argument(
        "--retention-hours",
        type=retention_hours,
        default=72,
        help="KVS retention per camera (>= 24)",
    )
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="facewatch stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    aws.add_argument("--region", default=None)
    aws.add_argument("--endpoint-url", default=None, help="e.g. a local moto server")
    aws.add_argument(
        "--prune",
        action="store_true",
        help="delete camera stacks and registry items not in the inventory",
    )
    aws.add_argument("--template", default=str(DEFAULT_TEMPLATE), help="camera stack template")
    for name, fn, text in (
        ("plan", run_plan, "show what apply would create, update or delete; check quotas"),
        ("status", run_status, "stack, processor and health of every camera"),
    ):
        sub = commands.add_parser(name, parents=[common, aws], help=text)
        sub.set_defaults(func=_guard(fn))
    sub = commands.add_parser("apply", parents=[common, aws], help="carry out the plan")
    sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_argument("--ignore-quotas", action="store_true")
    sub.add_argument("--batch-size", type=int, default=10, help="stack operations at once")
    sub.set_defaults(func=_guard(run_apply))
    sub = commands.add_parser("cost", parents=[common], help="monthly cost estimate per camera")
    sub.add_argument("--bitrate-mbps", type=float, default=1.0)
    sub.add_argument(
        "--sampler-interval", type=float, default=5.0, help="seconds between sampled frames"
    )
    sub.set_defaults(func=_guard(run_cost))
