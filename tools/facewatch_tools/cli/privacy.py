"""`facewatch privacy erase-employee|erase-incident|erase|export-subject|report`.

Each erasure is idempotent (a second run deletes nothing and says so) and prints a certificate,
also kept in the consent table: what was deleted, where, when, by whom, and what AWS still holds
(point-in-time recovery 35 days, KVS video until its retention, the EventBridge archive) and
until when. See docs/privacy.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facewatch.fleet.employees import AuditLog
from facewatch.fleet.inventory import load_inventory
from facewatch.privacy.erasure import Eraser
from facewatch.privacy.subject import export_subject
from facewatch_tools.aws_targets import DEFAULT_STACK
from facewatch_tools.cli.audit import parse_time
from facewatch_tools.cli.consent import clients_from_args
from facewatch_tools.listing import add_document_output
from facewatch_tools.privacy.report import collect_facts, render_html, render_markdown
from facewatch_tools.privacy.stores import PrivacyClients, read_stack, stores_for


def run(args: argparse.Namespace, clients: PrivacyClients) -> int:
    stack = read_stack(clients.cloudformation, args.stack)
    actor = str(clients.sts.get_caller_identity()["Arn"])
    stores = stores_for(clients, stack, actor, args.collection_id)
    action = args.privacy_command
    if action == "report":
        return _report(args, clients, stack)
    if action == "export-subject":
        audit = AuditLog(clients.dynamodb_resource.Table(stores.incidents_table))
        export = export_subject(stores, args.employee, audit)
        text = export.model_dump_json(indent=2)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
            print(f"written to {args.out}")
        else:
            print(text)
        return 0
    eraser = Eraser(stores, actor)
    if action == "erase-employee":
        certificate = eraser.erase_employee(args.employee_id)
    elif action == "erase-incident":
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
    employee = commands.add_parser(
        "erase-employee", parents=[common], help="faces, enrollment audit, consent records, hints"
    )
    employee.add_argument("employee_id", metavar="EMP-ID")
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
        "export-subject", parents=[common], help="what is held about an employee (Art. 15)"
    )
    export.add_argument("--employee", required=True, metavar="EMP-ID")
    export.add_argument("--out", default=None, help="write the JSON here")
    report = commands.add_parser(
        "report", parents=[common], help="per-site DPIA / records-of-processing facts (md, html)"
    )
    report.add_argument("--inventory", default="cameras.yaml")
    report.add_argument("--out-dir", default="privacy-report")
    for sub in commands.choices.values():
        sub.set_defaults(func=lambda args: run(args, clients_from_args(args)))
