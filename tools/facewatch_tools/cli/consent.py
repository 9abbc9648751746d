"""`facewatch consent record|list|withdraw`: the consent ledger behind face enrollment.

Where a site's privacy profile needs it (eu-gdpr, us-il-bipa, us-tx-cubi), `employees enroll`
refuses an employee without a current consent record in that region's ledger. Like the roster,
every command covers every region the inventory's sites name (or `--region`, repeatable):
`record` appends to each region's ledger, `list` reads each, and `withdraw` records the
withdrawal and deletes the employee's faces in every region within the command, printing one
certificate with a section per region. A region that cannot be reached is named, the others go
on, the exit code is 1 and the command says how to run the rest again (it is idempotent).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from facewatch.fleet.employees import EnrollmentRefusedError, validate_employee_id
from facewatch.fleet.inventory import InventoryError
from facewatch.privacy.certificates import (
    CrossRegionCertificate,
    ErasureCertificate,
    ErasureRequest,
    RegionNotReached,
)
from facewatch.privacy.consent import (
    ConsentLedger,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    subject_digest,
)
from facewatch.privacy.erasure import Eraser
from facewatch_tools.aws_targets import DEFAULT_STACK, TargetError
from facewatch_tools.cli.cameras import add_region_arguments, aws_session, endpoints
from facewatch_tools.cli.employees import regions_of
from facewatch_tools.cli.errors import EXIT_RUNTIME
from facewatch_tools.fleet.regional import RegionError, label
from facewatch_tools.fleet.roster import REGION_ERRORS, EveryRegion, in_every_region
from facewatch_tools.listing import (
    Column,
    add_document_output,
    add_output_argument,
    camel_keys,
    data_stdout,
    write_rows,
)
from facewatch_tools.privacy.stores import (
    PrivacyClients,
    StackResources,
    ledger_for,
    read_stack,
    stores_for,
)

# What a region's main stack must output for these commands (an older stack: deploy again).
NEEDED_OUTPUTS = ("TableName", "ConsentTableName")

DEFAULT_INVENTORY = "cameras.yaml"


def clients_from_args(args: argparse.Namespace, region: str | None = None) -> PrivacyClients:
    session, kw = aws_session(args, region)
    return PrivacyClients(
        cloudformation=session.client("cloudformation", **kw),
        dynamodb=session.client("dynamodb", **kw),
        dynamodb_resource=session.resource("dynamodb", **kw),
        s3=session.client("s3", **kw),
        sqs=session.client("sqs", **kw),
        rekognition=session.client("rekognition", **kw),
        kinesisvideo=session.client("kinesisvideo", **kw),
        sts=session.client("sts", **kw),
        region=session.region_name or "us-east-1",
        sns=session.client("sns", **kw),
    )


@dataclass(frozen=True)
class RegionalStack:
    """One region's main stack, read (reading is what fails when the region is down)."""

    clients: PrivacyClients
    stack: StackResources

    def ledger(self) -> ConsentLedger:
        return ledger_for(self.clients, self.stack)

    def actor(self) -> str:
        return str(self.clients.sts.get_caller_identity()["Arn"])

    def eraser(self, collection_id: str | None) -> Eraser:
        actor = self.actor()
        return Eraser(stores_for(self.clients, self.stack, actor, collection_id), actor)


# The clients: one set for every region (tests), or a factory giving each region's.
ClientsFor = PrivacyClients | Callable[[str | None], PrivacyClients]


def regional_stacks(
    args: argparse.Namespace, clients: ClientsFor
) -> dict[str, Callable[[], RegionalStack]]:
    """Region label -> how to read its main stack, for every region the command covers."""

    def opener(region: str | None) -> Callable[[], RegionalStack]:
        def open_stack() -> RegionalStack:
            regional = clients if isinstance(clients, PrivacyClients) else clients(region)
            stack = read_stack(regional.cloudformation, args.stack)
            missing = [key for key in NEEDED_OUTPUTS if key not in stack.outputs]
            if missing:
                raise TargetError(
                    f"stack {args.stack} in {label(region)} has no {', '.join(missing)} "
                    "output: deploy the current template there"
                )
            return RegionalStack(regional, stack)

        return open_stack

    return {label(region): opener(region) for region in regions_of(args)}


def run(args: argparse.Namespace, clients: ClientsFor) -> int:
    regions = regional_stacks(args, clients)
    several = len(regions) > 1
    # One region: its error is the command's (the CLI explains it in one line).
    errors = (*REGION_ERRORS, TargetError) if several else ()
    action = args.consent_command
    if action == "list":
        return _list(in_every_region(regions, lambda r: r.ledger().latest(), errors), args.output)
    employee = validate_employee_id(args.employee_id)
    if action == "record":
        method = ConsentMethod(args.method)

        def record(region: RegionalStack) -> ConsentRecord:
            return region.ledger().record(employee, method, args.document, region.actor())

        recorded = in_every_region(regions, record, errors)
        for where, entry in recorded.done.items():
            prefix = f"{where}: " if several else ""
            print(f"{prefix}{entry.employee_id}: consent recorded at {entry.at} ({entry.method})")
        return _not_reached(recorded, args, "consent NOT recorded")
    withdrawn: EveryRegion[ErasureCertificate] = in_every_region(
        regions, lambda r: r.eraser(args.collection_id).withdraw_consent(employee), errors
    )
    certificate = CrossRegionCertificate(
        request=ErasureRequest.CONSENT_WITHDRAWN,
        subject=subject_digest(employee),
        regions=list(withdrawn.done.values()),
        not_reached=[RegionNotReached(region=r, error=e) for r, e in withdrawn.failed.items()],
    )
    if args.output == "json":
        print(json.dumps(certificate.model_dump(mode="json"), indent=2))
    else:
        state = "faces erased" if certificate.complete else "INCOMPLETE, see NOT ERASED below"
        print(f"{employee}: consent withdrawn; {state}")
        print(certificate.text() if several else certificate.regions[0].text())
    return _not_reached(withdrawn, args, "consent NOT withdrawn, faces NOT erased")


COLUMNS = (
    Column("region"),
    Column("employeeId"),
    Column("status"),
    Column("at"),
    Column("method"),
    Column("document"),
    Column("actor", table=False),  # the IAM identity that recorded it
)


def _list(found: EveryRegion[dict[str, ConsentRecord]], output: str) -> int:
    rows = [
        {"region": where, **camel_keys(record.model_dump(mode="json"))}
        for where, latest in found.done.items()
        for record in latest.values()
    ]
    with data_stdout(output) as out:
        write_rows(rows, COLUMNS, output, out)
        for where, latest in found.done.items():
            given = sum(r.status is ConsentStatus.GIVEN for r in latest.values())
            print(f"{where}: {given} given, {len(latest) - given} withdrawn")
    for where, why in found.failed.items():
        print(f"region {where} could not be reached ({why}): not listed", file=sys.stderr)
    return 0 if found.complete else EXIT_RUNTIME


def _not_reached(answers: EveryRegion[Any], args: argparse.Namespace, what: str) -> int:
    """Name each region that did not answer and the command that completes the change."""
    if answers.complete:
        return 0
    for where, why in answers.failed.items():
        print(f"{where}: {args.employee_id}: {what}, region not reached ({why})", file=sys.stderr)
    words = ["consent", args.consent_command, args.employee_id]
    if args.consent_command == "record":
        extra = ["--method", args.method, "--document", args.document]
    else:
        extra = ["--output", "json"] if args.output == "json" else []
    argv = rerun_argv(args, words, answers.failed, extra)
    print(f"re-run for the regions not reached: {shlex.join(argv)}", file=sys.stderr)
    return EXIT_RUNTIME


def rerun_argv(
    args: argparse.Namespace, words: list[str], regions: Iterable[str], extra: list[str]
) -> list[str]:
    """The command line that completes a per-region change: ``words`` again with every option
    that chose where it acts (a re-run without them would act on another stack or account)."""
    argv = ["facewatch"]
    if getattr(args, "profile", None):
        argv += ["--profile", args.profile]
    argv += words
    if args.stack != DEFAULT_STACK:
        argv += ["--stack", args.stack]
    if args.inventory != DEFAULT_INVENTORY:
        argv += ["--inventory", args.inventory]
    for region in regions:
        argv += ["--region", region]
    for url in endpoints(args):
        argv += ["--endpoint-url", url]
    if args.collection_id:
        argv += ["--collection-id", args.collection_id]
    return argv + extra


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("consent", help="consent records for face enrollment")
    commands = parser.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="main stack, in every region (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    common.add_argument(
        "--inventory", default=DEFAULT_INVENTORY, help="camera inventory (its sites' regions)"
    )
    add_region_arguments(common)
    common.add_argument("--collection-id", default=None, help="default: the stack's output")
    record = commands.add_parser(
        "record", parents=[common], help="record an employee's consent (in every region)"
    )
    record.add_argument("employee_id", metavar="EMP-ID")
    record.add_argument("--method", required=True, choices=[m.value for m in ConsentMethod])
    record.add_argument(
        "--document", required=True, metavar="REF", help="the signed form's reference"
    )
    listing = commands.add_parser(
        "list", parents=[common], help="every employee's current consent (in every region)"
    )
    add_output_argument(listing)
    withdraw = commands.add_parser(
        "withdraw",
        parents=[common],
        help="record a withdrawal and erase the employee's faces, in every region",
    )
    withdraw.add_argument("employee_id", metavar="EMP-ID")
    add_document_output(withdraw)  # the certificate
    for sub in commands.choices.values():
        sub.set_defaults(func=_guard)


def _guard(args: argparse.Namespace) -> int:
    try:
        return run(args, lambda region: clients_from_args(args, region))
    except (InventoryError, RegionError) as exc:
        print(exc)
        return EXIT_RUNTIME
    except EnrollmentRefusedError as exc:
        print(exc.detail)
        return EXIT_RUNTIME
