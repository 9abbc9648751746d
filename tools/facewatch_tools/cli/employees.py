"""`facewatch employees enroll|enroll-dir|sync|remove|list|check`: the employee collections.

One roster, one collection per region (the regions the inventory's sites name, or --region):
enroll indexes into every region's collection, sync reconciles each with the roster, remove
erases in every region. Every change is audited in that region's table (who = the caller's IAM
identity, when, what; never the image). Photos with no face, several faces or too low quality
are refused with the reason.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.fleet.employees import AuditLog, EmployeeCollection, EnrollmentRefusedError
from facewatch.fleet.inventory import Inventory, InventoryError, load_inventory
from facewatch.fleet.registry import RegistryReader
from facewatch.privacy.consent import ConsentLedger
from facewatch_tools.aws_targets import DEFAULT_STACK, TargetError
from facewatch_tools.cli.cameras import add_region_arguments, aws_session, endpoints
from facewatch_tools.cli.errors import EXIT_RUNTIME, explain
from facewatch_tools.fleet.regional import RegionError, label, named, target_regions
from facewatch_tools.fleet.roster import (
    REGION_ERRORS,
    Erasure,
    RegionState,
    RosterEntry,
    apply_sync,
    erase_everywhere,
    parse_regions,
    plan_sync,
    wanted_photos,
)
from facewatch_tools.listing import Column, add_output_argument, data_stdout, write_rows

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class Clients:
    rekognition: Any
    sts: Any
    cloudformation: Any
    dynamodb: Any  # the service resource

    @classmethod
    def from_args(cls, args: argparse.Namespace, region: str | None = None) -> Clients:
        session, kw = aws_session(args, region)
        return cls(
            rekognition=session.client("rekognition", **kw),
            sts=session.client("sts", **kw),
            cloudformation=session.client("cloudformation", **kw),
            dynamodb=session.resource("dynamodb", **kw),
        )


def _outputs(args: argparse.Namespace, clients: Clients) -> dict[str, str]:
    stack = clients.cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def collection_for(args: argparse.Namespace, clients: Clients) -> EmployeeCollection:
    collection, table = args.collection_id, args.table
    if not (collection and table):
        outputs = _outputs(args, clients)
        collection = collection or outputs.get("CollectionId")
        table = table or outputs.get("TableName")
        if not (collection and table):
            raise TargetError(
                f"stack {args.stack} has no CollectionId/TableName output (a local stack: "
                "Rekognition collections are not emulated locally; pass --collection-id)"
            )
    actor = clients.sts.get_caller_identity()["Arn"]
    audit = AuditLog(clients.dynamodb.Table(table))
    return EmployeeCollection(
        clients.rekognition, collection, audit, actor, consent=consent_gate(args, clients, table)
    )


def consent_gate(args: argparse.Namespace, clients: Clients, table: str) -> ConsentLedger | None:
    """The ledger when a registered site's privacy profile needs consent before enrollment (one
    collection serves every site: the strictest decides); None when none does."""
    sites = RegistryReader(clients.dynamodb.Table(table)).sites()
    strict = sorted(s.site_id for s in sites if s.privacy.consent_required)
    if not strict:
        return None
    name = args.consent_table or _outputs(args, clients).get("ConsentTableName")
    if not name:
        raise SystemExit(
            f"sites {', '.join(strict)} need consent records, and the stack has no consent table"
        )
    return ConsentLedger(clients.dynamodb.Table(name))


def _enroll_one(people: EmployeeCollection, employee_id: str, photo: Path, where: str = "") -> bool:
    """Enroll one photo; ``where`` ("eu-central-1  3/120 ") prefixes the line (region, N/M)."""
    try:
        result = people.enroll(employee_id, photo.read_bytes(), photo.name)
    except EnrollmentRefusedError as refused:
        print(f"{where}{employee_id} {photo.name}: REFUSED {refused.reason}: {refused.detail}")
        return False
    done = "enrolled" if result.indexed else "already enrolled"
    print(f"{where}{employee_id} {photo.name}: {done}", flush=True)
    return True


def roster_in(directory: Path, csv_path: Path | None) -> list[RosterEntry]:
    """The roster: from a CSV (file,employee_id[,regions]) or from file names.

    A file name gives the id up to an optional "__": EMP-001.jpg, EMP-001__side.jpg.
    """
    if csv_path is not None:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            return [
                RosterEntry(
                    row["employee_id"].strip(),
                    directory / row["file"].strip(),
                    parse_regions(row.get("regions")),
                )
                for row in csv.DictReader(handle)
            ]
    return [
        RosterEntry(path.stem.split("__", 1)[0], path)
        for path in sorted(directory.iterdir())
        if path.suffix.lower() in PHOTO_SUFFIXES
    ]


def photos_in(directory: Path, csv_path: Path | None) -> list[tuple[str, Path]]:
    """(employee id, photo) pairs of the roster."""
    return [(e.employee_id, e.photo) for e in roster_in(directory, csv_path)]


# A command's clients: one set for every region (tests), or a factory giving each region's.
ClientsFor = Clients | Callable[[str | None], Clients]


def regions_of(args: argparse.Namespace) -> list[str | None]:
    """The regions the command covers: the inventory's (if there is one) or --region."""
    path = Path(args.inventory)
    inventory = load_inventory(path) if path.is_file() else Inventory()
    return target_regions(inventory, args.region, shared_endpoint=_one_local_endpoint(args))


def regional_collections(
    args: argparse.Namespace, clients: ClientsFor
) -> dict[str, Callable[[], EmployeeCollection]]:
    """Region name -> how to open its collection (opening may fail: the region is down).
    What erasure needs; `consent withdraw` builds it the same way."""

    def opener(region: str | None) -> Callable[[], EmployeeCollection]:
        def open_collection() -> EmployeeCollection:
            regional = clients if isinstance(clients, Clients) else clients(region)
            return collection_for(args, regional)

        return open_collection

    return {label(region): opener(region) for region in regions_of(args)}


def print_erasure(erasure: Erasure) -> None:
    for region, faces in erasure.removed.items():
        print(f"{region}: {erasure.employee_id}: {faces} face(s) removed")
    for region, why in erasure.failed.items():
        print(f"{region}: {erasure.employee_id}: NOT ERASED, region not reached ({why}): re-run")


def run(args: argparse.Namespace, clients: ClientsFor) -> int:
    collections = regional_collections(args, clients)
    several = len(collections) > 1
    # One region: its error is the command's (the CLI explains it in one line).
    errors = REGION_ERRORS if several else ()
    if args.employees_command == "remove":
        erasure = erase_everywhere(args.employee_id, collections, errors)
        print_erasure(erasure)
        if erasure.complete and not erasure.faces:
            # the end state an erasure wants: a re-run (or a wrong id) is not an error
            print(
                f"{erasure.employee_id}: no faces in any region (removed before, or never enrolled)"
            )
        return 0 if erasure.complete else EXIT_RUNTIME
    if args.employees_command == "list":
        return list_employees(args, collections)
    return _each_region(
        args, collections, lambda people, region, where: run_in_region(args, people, region, where)
    )


def list_employees(
    args: argparse.Namespace, collections: dict[str, Callable[[], EmployeeCollection]]
) -> int:
    """Every region's employees and face counts, as one listing (a region column)."""
    rows: list[dict[str, Any]] = []

    def read(people: EmployeeCollection, region: str, _where: str) -> int:
        rows.extend(
            {"region": region, "employeeId": employee, "faces": faces}
            for employee, faces in people.employees().items()
        )
        return 0

    with data_stdout(args.output) as out:
        worst = _each_region(args, collections, read)
        write_rows(rows, LIST_COLUMNS, args.output, out)
    return worst


LIST_COLUMNS = (Column("region"), Column("employeeId"), Column("faces"))


def _each_region(
    args: argparse.Namespace,
    collections: dict[str, Callable[[], EmployeeCollection]],
    step: Callable[[EmployeeCollection, str, str], int],
) -> int:
    several = len(collections) > 1
    worst = 0
    for region, open_collection in collections.items():
        where = f"{region}  " if several else ""
        try:
            worst = max(worst, step(open_collection(), region, where))
        except (BotoCoreError, ClientError, TargetError) as exc:
            if not several:
                raise  # the command's own error: one line from the error handler
            why = explain(exc) or exc
            print(f"{where}region {region} could not be reached: {why}", file=sys.stderr)
            worst = max(worst, EXIT_RUNTIME)
        if args.employees_command == "check":
            break  # changes nothing: one region answers
    return worst


def run_in_region(
    args: argparse.Namespace, people: EmployeeCollection, region: str, where: str
) -> int:
    action = args.employees_command
    if action == "enroll":
        results = [_enroll_one(people, args.id, Path(p), where) for p in args.photos]
        return 0 if all(results) else 1
    if action in ("enroll-dir", "sync"):
        roster = roster_in(Path(args.directory), Path(args.csv) if args.csv else None)
        if action == "sync":
            return sync_region(args, people, region, roster, where)
        mine = [e for e in roster if e.wanted_in(named(region))]
        results = [
            _enroll_one(people, e.employee_id, e.photo, f"{where}{n}/{len(mine)} ")
            for n, e in enumerate(mine, start=1)
        ]
        print(
            f"{where}{sum(results)} enrolled or already enrolled, "
            f"{len(results) - sum(results)} refused"
        )
        return 0 if all(results) else 1
    check = people.check(Path(args.photo).read_bytes())
    if check.refusal:
        print(f"would be REFUSED {check.refusal}: {check.detail}")
    else:
        print("one face: IndexFaces (QualityFilter HIGH) decides on quality")
    for employee, similarity in check.matches:
        print(f"matches {employee} ({similarity:.1f}%)")
    return 1 if check.refusal else 0


def sync_region(
    args: argparse.Namespace,
    people: EmployeeCollection,
    region: str,
    roster: list[RosterEntry],
    where: str,
) -> int:
    """Compare the region's collection with the roster, report drift, reconcile (--dry-run:
    report only, exit 1 when there is drift)."""
    photos = wanted_photos(roster, named(region))
    state = RegionState.read(people, also=photos)
    plan = plan_sync(region, {e: set(p) for e, p in photos.items()}, state)
    for line in plan.drift:
        print(f"{where}drift: {line}")
    if plan.empty:
        print(f"{where}in sync: {len(photos)} employee(s)")
        return 0
    if args.dry_run:
        print(
            f"{where}would enroll {len(plan.enroll)} photo(s), remove {len(plan.remove)} employees"
        )
        return 1
    result = apply_sync(plan, people, photos)
    for refusal in result.refused:
        print(f"{where}REFUSED {refusal}")
    print(
        f"{where}synced: {result.enrolled} photo(s) enrolled, {result.removed} face(s) of "
        f"{len(plan.remove)} employee(s) removed, {len(result.refused)} refused"
    )
    return 1 if result.refused else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("employees", help="enroll and remove employee faces")
    commands = parser.add_subparsers(dest="employees_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="facewatch stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    common.add_argument("--collection-id", default=None)
    common.add_argument("--table", default=None)
    common.add_argument("--consent-table", default=None, help="the stack's consent ledger")
    common.add_argument(
        "--inventory", default="cameras.yaml", help="camera inventory (its sites' regions)"
    )
    add_region_arguments(common)
    enroll = commands.add_parser("enroll", parents=[common], help="enroll photos of one person")
    enroll.add_argument("photos", nargs="+", metavar="PHOTO")
    enroll.add_argument("--id", required=True, help="employee id (ExternalImageId)")
    many = commands.add_parser("enroll-dir", parents=[common], help="enroll a folder of photos")
    many.add_argument("directory", metavar="DIR")
    many.add_argument("--csv", default=None, help="CSV: file,employee_id[,regions]")
    sync = commands.add_parser(
        "sync", parents=[common], help="reconcile every region's collection with the roster"
    )
    sync.add_argument("directory", metavar="DIR", help="the roster's photos")
    sync.add_argument("--csv", default=None, help="CSV: file,employee_id[,regions]")
    sync.add_argument("--dry-run", action="store_true", help="report drift, change nothing")
    remove = commands.add_parser(
        "remove", parents=[common], help="delete every face of one id, in every region"
    )
    remove.add_argument("employee_id", metavar="EMP-ID")
    listing = commands.add_parser("list", parents=[common], help="employees and their face counts")
    add_output_argument(listing)
    check = commands.add_parser("check", parents=[common], help="would this photo enroll?")
    check.add_argument("photo", metavar="PHOTO")
    for sub in commands.choices.values():
        sub.set_defaults(func=_guard)


def _guard(args: argparse.Namespace) -> int:
    try:
        return run(args, lambda region: Clients.from_args(args, region))
    except (InventoryError, RegionError) as exc:
        print(exc)
        return EXIT_RUNTIME


def _one_local_endpoint(args: argparse.Namespace) -> bool:
    """AWS_ENDPOINT_URL and no REGION=URL: one local stack, so one region."""
    return bool(os.environ.get("AWS_ENDPOINT_URL")) and not any("=" in e for e in endpoints(args))
