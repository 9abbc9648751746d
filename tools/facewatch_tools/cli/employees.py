"""`facewatch employees enroll|enroll-dir|remove|list|check`: the employee face collection.

Every change is audited in the table (who = the caller's IAM identity, when, what; never the
image). Photos with no face, several faces or too low quality are refused with the reason.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facewatch.fleet.employees import AuditLog, EmployeeCollection, EnrollmentRefusedError
from facewatch.fleet.registry import RegistryReader
from facewatch.privacy.consent import ConsentLedger
from facewatch_tools.aws_targets import DEFAULT_STACK, TargetError
from facewatch_tools.cli.cameras import aws_session

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class Clients:
    rekognition: Any
    sts: Any
    cloudformation: Any
    dynamodb: Any  # the service resource

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Clients:
        session, kw = aws_session(args)
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


def _enroll_one(people: EmployeeCollection, employee_id: str, photo: Path, step: str = "") -> bool:
    """Enroll one photo; ``step`` ("3/120 ") prefixes the line so a long folder shows progress."""
    try:
        result = people.enroll(employee_id, photo.read_bytes(), photo.name)
    except EnrollmentRefusedError as refused:
        print(f"{step}{employee_id} {photo.name}: REFUSED {refused.reason}: {refused.detail}")
        return False
    state = "enrolled" if result.indexed else "already enrolled"
    print(f"{step}{employee_id} {photo.name}: {state}", flush=True)
    return True


def photos_in(directory: Path, csv_path: Path | None) -> list[tuple[str, Path]]:
    """(employee id, photo) pairs: from a CSV (file,employee_id) or from file names.

    A file name gives the id up to an optional "__": EMP-001.jpg, EMP-001__side.jpg.
    """
    if csv_path is not None:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            return [
                (row["employee_id"].strip(), directory / row["file"].strip())
                for row in csv.DictReader(handle)
            ]
    return [
        (path.stem.split("__", 1)[0], path)
        for path in sorted(directory.iterdir())
        if path.suffix.lower() in PHOTO_SUFFIXES
    ]


def run(args: argparse.Namespace, clients: Clients) -> int:
    people = collection_for(args, clients)
    action = args.employees_command
    if action == "enroll":
        results = [_enroll_one(people, args.id, Path(p)) for p in args.photos]
        return 0 if all(results) else 1
    if action == "enroll-dir":
        pairs = photos_in(Path(args.directory), Path(args.csv) if args.csv else None)
        results = [
            _enroll_one(people, emp, photo, f"{n}/{len(pairs)} ")
            for n, (emp, photo) in enumerate(pairs, start=1)
        ]
        print(f"{sum(results)} enrolled or already enrolled, {len(results) - sum(results)} refused")
        return 0 if all(results) else 1
    if action == "remove":
        deleted = people.remove(args.employee_id)
        print(f"{args.employee_id}: {deleted} face(s) removed")
        return 0 if deleted else 1
    if action == "list":
        for employee, faces in people.employees().items():
            print(f"{employee}\t{faces}")
        return 0
    check = people.check(Path(args.photo).read_bytes())
    if check.refusal:
        print(f"would be REFUSED {check.refusal}: {check.detail}")
    else:
        print("one face: IndexFaces (QualityFilter HIGH) decides on quality")
    for employee, similarity in check.matches:
        print(f"matches {employee} ({similarity:.1f}%)")
    return 1 if check.refusal else 0


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
    common.add_argument("--region", default=None)
    common.add_argument("--endpoint-url", default=None)
    enroll = commands.add_parser("enroll", parents=[common], help="enroll photos of one person")
    enroll.add_argument("photos", nargs="+", metavar="PHOTO")
    enroll.add_argument("--id", required=True, help="employee id (ExternalImageId)")
    many = commands.add_parser("enroll-dir", parents=[common], help="enroll a folder of photos")
    many.add_argument("directory", metavar="DIR")
    many.add_argument("--csv", default=None, help="CSV with columns file,employee_id")
    remove = commands.add_parser("remove", parents=[common], help="delete every face of one id")
    remove.add_argument("employee_id", metavar="EMP-ID")
    commands.add_parser("list", parents=[common], help="employees and their face counts")
    check = commands.add_parser("check", parents=[common], help="would this photo enroll?")
    check.add_argument("photo", metavar="PHOTO")
    for sub in commands.choices.values():
        sub.set_defaults(func=lambda args: run(args, Clients.from_args(args)))
