"""`facewatch privacy erase-employee|erase-incident|erase|export-subject|report`.

Each erasure is idempotent (a second run deletes nothing and says so) and prints a certificate,
also kept in the consent table: what was deleted, where, when, by whom, and what AWS still holds
(point-in-time recovery 35 days, KVS video until its retention, the EventBridge archive) and
until when. See docs/privacy.md.

An employee's data is in every region they were enrolled in: `erase-employee` and
`export-subject` cover every region the inventory's sites name (or `--region`, repeatable), in
the loop consent withdrawal uses (`roster.in_every_region`). One certificate (or export) has a
section per region, each region's certificate kept in that region's consent table; a region
that cannot be reached is named, the others are still done, the exit code is 1 and stderr gives
the command that completes the request.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from facewatch.fleet.employees import AuditLog, EnrollmentRefusedError, validate_employee_id
from facewatch.fleet.inventory import InventoryError, load_inventory
from facewatch.privacy.certificates import (
    CrossRegionCertificate,
    ErasureCertificate,
    ErasureRequest,
    RegionNotReached,
)
from facewatch.privacy.consent import subject_digest
from facewatch.privacy.erasure import Eraser
from facewatch.privacy.subject import SubjectExport, across_regions, export_subject
from facewatch_tools.aws_targets import DEFAULT_STACK, TargetError
from facewatch_tools.cli.audit import parse_time
from facewatch_tools.cli.cameras import add_region_arguments
from facewatch_tools.cli.consent import (
    DEFAULT_INVENTORY,
    ClientsFor,
    RegionalStack,
    clients_from_args,
    regional_stacks,
    rerun_argv,
)
from facewatch_tools.cli.errors import EXIT_RUNTIME
from facewatch_tools.fleet.regional import RegionError
from facewatch_tools.fleet.roster import REGION_ERRORS, EveryRegion, in_every_region
from facewatch_tools.listing import add_document_output
from facewatch_tools.privacy.report import collect_facts, render_html, render_markdown
from facewatch_tools.privacy.stores import PrivacyClients, read_stack, stores_for

# The requests about one person: their data may be in every region.
EVERY_REGION = ("erase-employee", "export-subject")


def run(args: argparse.Namespace, clients: ClientsFor) -> int:
    if args.privacy_command in EVERY_REGION:
        return _every_region(args, clients)
    clients = clients if isinstance(clients, PrivacyClients) else clients(None)
    stack = read_stack(clients.cloudformation, args.stack)
    actor = str(clients.sts.get_caller_identity()["Arn"])
    stores = stores_for(clients, stack, actor, args.collection_id)
    action = args.privacy_command
    if action == "report":
        return _report(args, clients, stack)
    eraser = Eraser(stores, actor)
    if action == "erase-incident":
        certificate = eraser.erase_incident(args.incident_id)
    else:
        since, until = parse_time(args.since).timestamp(), parse_time(args.until).timestamp()
        if until <= since:
            print("--until must be after --since", file=sys.stderr)
            return 2
        certificate = eraser.erase_place_and_time(args.camera, since, until)
    print(
        json.dumps(certificate.model_dump(mode="json"), indent=2)
        if args.output == "json"
        else certificate.text()
    )
    return 0


def _every_region(args: argparse.Namespace, clients: ClientsFor) -> int:
    employee = validate_employee_id(
        args.employee_id if args.privacy_command == "erase-employee" else args.employee
    )
    regions = regional_stacks(args, clients)
    several = len(regions) > 1
    # One region: its error is the command's (the CLI explains it in one line).
    errors = (*REGION_ERRORS, TargetError) if several else ()
    if args.privacy_command == "export-subject":
        exported = in_every_region(regions, lambda r: _export(r, employee, args), errors)
        return _write_export(args, employee, exported)
    erased: EveryRegion[ErasureCertificate] = in_every_region(
        regions, lambda r: r.eraser(args.collection_id).erase_employee(employee), errors
    )
    certificate = CrossRegionCertificate(
        request=ErasureRequest.EMPLOYEE,
        subject=subject_digest(employee),
        regions=list(erased.done.values()),
        not_reached=_missing(erased),
    )
    if args.output == "json":
        print(json.dumps(certificate.model_dump(mode="json"), indent=2))
    else:
        print(certificate.text() if several else certificate.regions[0].text())
    # Erasure is idempotent: the re-run goes to the regions not reached only.
    return _not_reached(args, erased, "NOT ERASED", list(erased.failed))


def _export(region: RegionalStack, employee: str, args: argparse.Namespace) -> SubjectExport:
    stores = stores_for(region.clients, region.stack, region.actor(), args.collection_id)
    audit = AuditLog(region.clients.dynamodb_resource.Table(stores.incidents_table))
    return export_subject(stores, employee, audit)


def _write_export(
    args: argparse.Namespace, employee: str, exported: EveryRegion[SubjectExport]
) -> int:
    export = across_regions(employee, list(exported.done.values()), _missing(exported))
    text = export.model_dump_json(indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        state = "" if export.complete else " (INCOMPLETE: see not_reached)"
        print(f"written to {args.out}{state}")
    else:
        print(text)
    # One answer to the person covers every region: the re-run reads all of them again
    # (reading is idempotent) so that one file is whole, not the missing region alone.
    return _not_reached(args, exported, "NOT EXPORTED", args.region or [])


def _missing(answers: EveryRegion[Any]) -> list[RegionNotReached]:
    return [RegionNotReached(region=r, error=e) for r, e in answers.failed.items()]


def _not_reached(
    args: argparse.Namespace, answers: EveryRegion[Any], what: str, rerun: Iterable[str]
) -> int:
    """Name each region that did not answer and print the command that completes the request."""
    if answers.complete:
        return 0
    for where, why in answers.failed.items():
        print(f"{where}: {what}, region not reached ({why})", file=sys.stderr)
    print(f"re-run when it answers: {shlex.join(_argv(args, rerun))}", file=sys.stderr)
    return EXIT_RUNTIME


def _argv(args: argparse.Namespace, regions: Iterable[str]) -> list[str]:
    """This command line again, for ``regions`` (none: every region of the inventory)."""
    if args.privacy_command == "erase-employee":
        words, extra = [args.employee_id], (["--output", "json"] if args.output == "json" else [])
    else:
        words = ["--employee", args.employee]
        extra = ["--out", args.out] if args.out else []
    return rerun_argv(args, ["privacy", args.privacy_command, *words], regions, extra)


def _report(args: argparse.Namespace, clients: PrivacyClients, stack: Any) -> int:
    inventory = load_inventory(Path(args.inventory))  # a bad one: one line, exit 1 (the CLI's)
    facts = collect_facts(inventory, stack, clients, args.stack)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for site in facts.sites:
        (out / f"privacy-{site.site_id}.md").write_text(
            render_markdown(facts, site), encoding="utf-8"
        )
        (out / f"privacy-{site.site_id}.html").write_text(
            render_html(facts, site), encoding="utf-8"
        )
        print(f"{site.site_id}: {out / f'privacy-{site.site_id}.md'} and .html")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("privacy", help="erasure, subject access, the DPIA facts report")
    commands = parser.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="main stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    common.add_argument("--region", default=None)
    common.add_argument("--endpoint-url", default=None)
    common.add_argument("--collection-id", default=None, help="default: the stack's output")
    add_document_output(common)  # the certificate
    # The employee's requests: every region the inventory's sites name (as `consent`).
    person = argparse.ArgumentParser(add_help=False)
    person.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="main stack, in every region (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    person.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help="camera inventory (its sites' regions)"
    )
    add_region_arguments(person)
    person.add_argument("--collection-id", default=None, help="default: each stack's output")
    employee = commands.add_parser(
        "erase-employee",
        parents=[person],
        help="faces, enrollment audit, consent records, hints: in every region",
    )
    employee.add_argument("employee_id", metavar="EMP-ID")
    add_document_output(employee)  # the certificate
    incident = commands.add_parser(
        "erase-incident", parents=[common], help="an incident, its trail, snapshots, clips, rejects"
    )
    incident.add_argument("incident_id", metavar="INC-ID")
    place = commands.add_parser(
        "erase", parents=[common], help="everything of one camera in a time range"
    )
    place.add_argument("--camera", required=True)
    place.add_argument("--since", required=True, help="ISO time (UTC unless it says)")
    place.add_argument("--until", required=True)
    export = commands.add_parser(
        "export-subject",
        parents=[person],
        help="what is held about an employee in every region (Art. 15)",
    )
    export.add_argument("--employee", required=True, metavar="EMP-ID")
    export.add_argument("--out", default=None, help="write the JSON here")
    report = commands.add_parser(
        "report", parents=[common], help="per-site DPIA / records-of-processing facts (md, html)"
    )
    report.add_argument("--inventory", default="cameras.yaml")
    report.add_argument("--out-dir", default="privacy-report")
    for name, sub in commands.choices.items():
        sub.set_defaults(
            func=_guard if name in EVERY_REGION else lambda a: run(a, clients_from_args(a))
        )


def _guard(args: argparse.Namespace) -> int:
    try:
        return run(args, lambda region: clients_from_args(args, region))
    except (InventoryError, RegionError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_RUNTIME
    except EnrollmentRefusedError as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_RUNTIME
