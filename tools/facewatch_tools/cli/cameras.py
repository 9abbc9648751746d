"""`facewatch cameras plan|apply|status|cost`: reconcile cameras.yaml with AWS.

One CloudFormation stack per camera (camera-template.yaml), a registry in the table, a quota
check before anything is created. `apply` prints the plan first, is idempotent (a second run
does nothing) and can be re-run after a partial failure.

Regions: one main stack per region (same template, same name). Every command loops over the
regions the inventory's sites name (or the ``--region`` values): each region's cameras get
their stacks and registry items there, checked against what that region can run. A region that
cannot be reached is named and the others go on (docs/regions.md).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from facewatch.fleet.inventory import Inventory, InventoryError, load_inventory
from facewatch.fleet.registry import Registry, RegistryPlan
from facewatch_tools.aws_targets import DEFAULT_STACK, TargetError, check_endpoint
from facewatch_tools.cli.errors import EXIT_RUNTIME, explain
from facewatch_tools.fleet.costs import CostAssumptions, camera_cost
from facewatch_tools.fleet.local_stacks import is_local, local_camera_stacks
from facewatch_tools.fleet.quotas import QuotaCheck, QuotaClients, check_quotas
from facewatch_tools.fleet.regional import RegionError, endpoint_for, label, target_regions
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
from facewatch_tools.listing import Column, add_output_argument, data_stdout, write_rows

# Throttling: adaptive retry mode backs off and slows the client down (botocore).
RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


def aws_session(args: argparse.Namespace, region: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The session for a region (default: the only --region, else the SDK's) and the client
    options for that region's --endpoint-url and retries."""
    region = region or single_region(args)
    session = boto3.Session(region_name=region) if region else boto3.Session()
    options: dict[str, Any] = {"config": RETRIES}
    url = endpoint_for(endpoints(args), region)
    if url:
        check_endpoint(url)  # seconds, not botocore's retries, for a region that is down
        options["endpoint_url"] = url
    return session, options


def single_region(args: argparse.Namespace) -> str | None:
    regions = args.region
    if isinstance(regions, list):
        return regions[0] if len(regions) == 1 else None
    return regions if isinstance(regions, str) else None


def endpoints(args: argparse.Namespace) -> list[str]:
    value = args.endpoint_url
    return [value] if isinstance(value, str) else list(value or [])


def add_region_arguments(parser: argparse.ArgumentParser) -> None:
    """--region and --endpoint-url, both repeatable: one value per region of the deployment."""
    parser.add_argument(
        "--region",
        action="append",
        default=None,
        help="only this region (repeatable; default: every region the sites name)",
    )
    parser.add_argument(
        "--endpoint-url",
        action="append",
        default=None,
        help="URL for every region, or REGION=URL (repeatable; e.g. local moto servers)",
    )


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
    stack_engine: StackEngine | None = None  # default: CloudFormation through `cloudformation`

    @classmethod
    def from_args(cls, args: argparse.Namespace, region: str | None = None) -> Clients:
        session, kw = aws_session(args, region)
        return cls(
            cloudformation=session.client("cloudformation", **kw),
            rekognition=session.client("rekognition", **kw),
            kinesis=session.client("kinesis", **kw),
            service_quotas=session.client("service-quotas", **kw),
            dynamodb=session.resource("dynamodb", **kw),
            iam=session.client("iam", **kw),
            lambda_=session.client("lambda", **kw),
        )

    @property
    def region(self) -> str:
        return str(self.cloudformation.meta.region_name)


# A command's clients: one set for every region (tests), or a factory giving each region's.
ClientsFor = Clients | Callable[[str | None], Clients]


def clients_in(clients: ClientsFor, region: str | None) -> Clients:
    return clients if isinstance(clients, Clients) else clients(region)


@dataclass
class Context:
    main: MainStack
    body: str
    engine: StackEngine
    args: argparse.Namespace
    clients: Clients
    region: str | None = None  # None: the SDK's region, for an inventory that names none

    @property
    def endpoint_url(self) -> str | None:
        return endpoint_for(endpoints(self.args), self.region)

    @property
    def emulated(self) -> bool:
        """A local endpoint or the local stack: no quotas, no stream processors to ask about."""
        return bool(self.endpoint_url) or is_local(self.main)

    def inventory(self) -> Inventory:
        return load_inventory(Path(self.args.inventory)).in_region(self.region)

    def plan(self) -> Plan:
        inventory = self.inventory()
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
        return registry.plan(self.inventory(), names, self.args.prune)


def _progress(line: str) -> None:
    print(line, flush=True)


class MainStackMissingError(TargetError):
    """No main stack in a region: deploy it there first."""


def _context(
    args: argparse.Namespace,
    clients: Clients,
    engine: StackEngine | None,
    region: str | None = None,
) -> Context:
    try:
        main = read_main_stack(clients.cloudformation, args.stack)
    except clients.cloudformation.exceptions.ClientError as exc:
        if "does not exist" not in exc.response.get("Error", {}).get("Message", ""):
            raise
        where = region or "this region"
        raise MainStackMissingError(
            f"main stack {args.stack!r} does not exist in this account and {where}: deploy it "
            "first (docs/deploy.md), or pass --stack / --region"
        ) from exc
    body = Path(args.template).read_text(encoding="utf-8")
    engine = (
        engine
        or clients.stack_engine
        or local_camera_stacks(main, clients.cloudformation, echo=_progress)  # local stack only
        or CloudFormationEngine(clients.cloudformation, echo=_progress)
    )
    return Context(main, body, engine, args, clients, region)


def each_region(
    args: argparse.Namespace,
    clients: ClientsFor,
    engine: StackEngine | None,
    step: Callable[[Context], int],
    *,
    headers: bool = True,
) -> int:
    """Run ``step`` in every region the command covers; the worst exit code wins. A region whose
    main stack is missing or that cannot be reached is named, and the others still run.
    ``headers``: an ``== region`` line before each region's output."""
    regions = target_regions(load_inventory(Path(args.inventory)), args.region)
    if len(regions) == 1:  # one region: its error is the command's (one line, from the CLI)
        (region,) = regions
        if region and headers:
            print(f"== region {region}")
        try:
            return step(_context(args, clients_in(clients, region), engine, region))
        except MainStackMissingError as exc:
            raise SystemExit(str(exc)) from exc
    worst = 0
    failed: list[tuple[str | None, Exception]] = []
    for region in regions:
        if headers:
            print(f"== region {label(region)}")
        try:
            code = step(_context(args, clients_in(clients, region), engine, region))
        except (MainStackMissingError, BotoCoreError, ClientError) as exc:
            failed.append((region, exc))
            code = EXIT_RUNTIME
        worst = max(worst, code)
    if failed and len(failed) == len(regions):
        raise failed[0][1]  # nothing answered: the command's own error, one line
    for region, error in failed:
        why = error if isinstance(error, MainStackMissingError) else explain(error) or error
        print(f"region {label(region)} could not be reached: {why}", file=sys.stderr)
    return worst


PLAN_COLUMNS = (
    Column("region", table=False),  # the table view names the region above its rows
    Column("cameraId"),
    Column("action"),
    Column("stackName"),
    Column("reasons"),
    Column("detector", table=False),
)


def plan_rows(current: Plan, region: str | None) -> list[dict[str, Any]]:
    return [
        {
            "region": label(region),
            "cameraId": change.camera_id,
            "action": change.action.value,
            "stackName": change.stack_name,
            "reasons": list(change.reasons),
            "detector": change.detector,
        }
        for change in current.changes
    ]


def print_plan(
    current: Plan,
    registry: RegistryPlan | None,
    region: str | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> None:
    """The plan as a table and its summary; with ``rows`` (--output json|csv) the table's rows
    are added there instead (the summary then goes to stderr: data_stdout)."""
    if rows is None:
        write_rows(plan_rows(current, region), PLAN_COLUMNS, "table", sys.stdout)
    else:
        rows.extend(plan_rows(current, region))
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
        region = ctx.region or default_region  # the camera's site's region
        detector = None if change.detector == VIDEO_ONLY else camera.detector
        refusal = check_region(camera.id, detector, region)
        if refusal is not None:
            print("REFUSED " + refusal.message())
            ok = False
    wants_processors = any(
        c.desired is not None and c.detector == "stream-processor" for c in current.changes
    )
    if not wants_processors or ctx.emulated:
        return ok, None
    access = stream_processor_access(ctx.clients.rekognition)
    print(("" if access.can_create else "WARNING ") + access.advice())
    if access.can_create is False:
        ok = False
    return ok, access.processors_in_use


def quota_report(
    ctx: Context, current: Plan, processors_in_use: int | None = None
) -> list[QuotaCheck] | None:
    if ctx.emulated:
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


def run_plan(
    args: argparse.Namespace, clients: ClientsFor, engine: StackEngine | None = None
) -> int:
    fmt = getattr(args, "output", "table")
    rows: list[dict[str, Any]] = []
    with data_stdout(fmt) as out:
        code = each_region(
            args, clients, engine, lambda ctx: plan_region(ctx, None if fmt == "table" else rows)
        )
    if fmt != "table":
        write_rows(rows, PLAN_COLUMNS, fmt, out)
    return code


def plan_region(ctx: Context, rows: list[dict[str, Any]] | None = None) -> int:
    current = ctx.plan()
    print_plan(current, ctx.registry_plan(current), ctx.region, rows)
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


def run_apply(
    args: argparse.Namespace, clients: ClientsFor, engine: StackEngine | None = None
) -> int:
    return each_region(args, clients, engine, apply_region)


def apply_region(ctx: Context) -> int:
    args = ctx.args
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
    where = f" in {ctx.region}" if ctx.region else ""
    if (
        not args.yes
        and sys.stdin.isatty()
        and input(f"apply this plan{where}? [y/N] ").lower() != "y"
    ):
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


STATUS_COLUMNS = (
    Column("region", table=False),  # the table view names the region above its rows
    Column("cameraId"),
    Column("stackStatus"),  # NOT DEPLOYED when the camera has no stack
    Column("processor"),  # stream processors only; n/a against a local endpoint
    Column("health"),
    Column("healthReason"),
)
SUMMARY_COLUMNS = (
    Column("region"),
    Column("mainStack"),
    Column("deployed"),
    Column("processors"),
    Column("health"),
)


@dataclass
class RegionHealth:
    """One row of the all-regions summary."""

    region: str
    main_status: str
    cameras: int = 0
    deployed: int = 0
    processors: Counter[str] = field(default_factory=Counter)
    health: Counter[str] = field(default_factory=Counter)

    def row(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "mainStack": self.main_status,
            "deployed": f"{self.deployed}/{self.cameras}",
            "processors": [f"{n} {s}" for s, n in sorted(self.processors.items())] or None,
            "health": [f"{n} {s}" for s, n in sorted(self.health.items())] or None,
        }


def run_status(
    args: argparse.Namespace, clients: ClientsFor, engine: StackEngine | None = None
) -> int:
    """Every camera's stack, processor and health (the rows), then one summary line per
    region (the table view's; with json or csv it goes to stderr). ``--summary``: the summary
    alone, as the listing (one screen whatever the camera count)."""
    fmt = getattr(args, "output", "table")
    summary_only = bool(getattr(args, "summary", False))
    summary: list[RegionHealth] = []
    rows: list[dict[str, Any]] = []
    regions = target_regions(load_inventory(Path(args.inventory)), args.region)

    def step(ctx: Context) -> int:
        health, found = status_region(ctx)
        summary.append(health)
        if fmt == "table" and not summary_only:
            write_rows(found, STATUS_COLUMNS, fmt, sys.stdout)
        rows.extend(found)
        return 0

    with data_stdout(fmt) as out:
        code = each_region(args, clients, engine, step, headers=not summary_only)
        seen = {h.region for h in summary}
        for region in regions:
            name = label(region)
            if name not in seen:
                summary.append(RegionHealth(name, "UNAVAILABLE (see above)"))
        ordered = sorted(summary, key=lambda h: h.region)
        if summary_only:
            write_rows((h.row() for h in ordered), SUMMARY_COLUMNS, fmt, out)
            return code
        print("\nregions:")
        write_rows((h.row() for h in ordered), SUMMARY_COLUMNS, "table", sys.stdout)
    if fmt != "table":
        write_rows(rows, STATUS_COLUMNS, fmt, out)
    return code


def status_region(ctx: Context) -> tuple[RegionHealth, list[dict[str, Any]]]:
    stacks = ctx.engine.camera_stacks(ctx.main.name)
    table_name = ctx.main.outputs.get("TableName")
    table = ctx.clients.dynamodb.Table(table_name) if table_name else None
    inventory = ctx.inventory()
    ids = sorted({c.id for c in inventory.cameras} | set(stacks))
    summary = RegionHealth(
        label(ctx.region), ctx.main.status or "?", cameras=len(inventory.cameras)
    )
    rows: list[dict[str, Any]] = []
    for cam in ids:
        state = stacks.get(cam)
        processor = None
        name = state.parameters.get("ProcessorName") if state else None
        if state and state.parameters.get("Detector") == "stream-processor" and name:
            processor = "n/a" if ctx.emulated else describe_processor(ctx.clients, name)
            summary.processors[processor] += 1
        health = reason = None
        if table is not None:
            item = table.get_item(Key={"PK": f"CAMERA#{cam}", "SK": "HEALTH"}).get("Item")
            if item:
                health, reason = str(item["health"]["status"]), str(item["health"]["reason"])
                summary.health[health] += 1
        if state and not state.status.endswith(("FAILED", "ROLLBACK_COMPLETE")):
            summary.deployed += 1
        rows.append(
            {
                "region": label(ctx.region),
                "cameraId": cam,
                "stackStatus": state.status if state else "NOT DEPLOYED",
                "processor": processor,
                "health": health,
                "healthReason": reason,
            }
        )
    return summary, rows


def run_cost(args: argparse.Namespace) -> int:
    inventory = load_inventory(Path(args.inventory))
    assume = CostAssumptions(
        retention_hours=args.retention_hours,
        bitrate_mbps=args.bitrate_mbps,
        sampler_interval_seconds=args.sampler_interval,
    )
    costs = [camera_cost(camera, assume) for camera in inventory.cameras]
    rows = [
        {
            "siteId": camera.site,
            "cameraId": cost.camera_id,
            "detector": cost.detector,
            "hoursPerMonth": cost.hours,
            "recognitionUsd": cost.recognition,
            "kvsInOutUsd": cost.kvs_ingest,
            "kvsStorageUsd": cost.kvs_storage,
            "kdsUsd": cost.kds,
            "totalUsd": cost.total,
        }
        for camera, cost in zip(inventory.cameras, costs, strict=True)
    ]
    with data_stdout(args.output) as out:
        write_rows(rows, COST_COLUMNS, args.output, out)
        print(
            f"\nall cameras: ${sum(round(c.total, 2) for c in costs):.2f}/month (the rows' sum). "
            "Assumptions: "
            f"{assume.bitrate_mbps} Mbit/s video, {assume.retention_hours} h retention, sampler "
            f"every {assume.sampler_interval_seconds:g} s; us-east-1 list prices "
            "(facewatch_tools/fleet/costs.py). Streams only in scheduled hours."
        )
    return 0


COST_COLUMNS = (
    Column("siteId"),
    Column("cameraId"),
    Column("detector"),
    Column("hoursPerMonth", decimals=0),
    Column("recognitionUsd", decimals=2),
    Column("kvsInOutUsd", decimals=2),
    Column("kvsStorageUsd", decimals=2),
    Column("kdsUsd", decimals=2),
    Column("totalUsd", decimals=2),
)


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            if fn is run_cost:
                return int(fn(args))
            return int(fn(args, lambda region: Clients.from_args(args, region)))
        except (InventoryError, RegionError) as exc:
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
    add_region_arguments(aws)
    aws.add_argument(
        "--prune",
        action="store_true",
        help="delete camera stacks and registry items not in the inventory",
    )
    aws.add_argument("--template", default=str(DEFAULT_TEMPLATE), help="camera stack template")
    for name, fn, text in (
        ("plan", run_plan, "show what apply would create, update or delete; check quotas"),
        ("status", run_status, "stack, processor and health of every camera, every region"),
    ):
        sub = commands.add_parser(name, parents=[common, aws], help=text)
        add_output_argument(sub)
        sub.set_defaults(func=_guard(fn))
        if name == "status":
            sub.add_argument(
                "--summary", action="store_true", help="one line per region (no camera rows)"
            )
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
    add_output_argument(sub)
    sub.set_defaults(func=_guard(run_cost))
