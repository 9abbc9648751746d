"""`facewatch consent record|list|withdraw`: the consent ledger behind face enrollment.

Where a site's privacy profile needs it (eu-gdpr, us-il-bipa, us-tx-cubi), `employees enroll`
refuses an employee without a current consent record. Withdrawal deletes the employee's faces
from the collection within the command and prints the erasure certificate.
"""

from __future__ import annotations

import argparse
from typing import Any

from facewatch.privacy.consent import ConsentMethod
from facewatch.privacy.erasure import Eraser
from facewatch_tools.aws_targets import DEFAULT_STACK
from facewatch_tools.cli.cameras import aws_session
from facewatch_tools.listing import Column, add_output_argument, camel_keys, data_stdout, write_rows
from facewatch_tools.privacy.stores import PrivacyClients, ledger_for, read_stack, stores_for


def clients_from_args(args: argparse.Namespace) -> PrivacyClients:
    session, kw = aws_session(args)
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


COLUMNS = (
    Column("employeeId"),
    Column("status"),
    Column("at"),
    Column("method"),
    Column("document"),
    Column("actor", table=False),  # the IAM identity that recorded it
)


def run(args: argparse.Namespace, clients: PrivacyClients) -> int:
    stack = read_stack(clients.cloudformation, args.stack)
    ledger = ledger_for(clients, stack)
    action = args.consent_command
    if action == "list":
        latest = ledger.latest()
        with data_stdout(args.output) as out:
            write_rows(
                (camel_keys(r.model_dump(mode="json")) for r in latest.values()),
                COLUMNS,
                args.output,
                out,
            )
            counts = ledger.counts()
            print(f"{counts['given']} given, {counts['withdrawn']} withdrawn")
        return 0
    actor = str(clients.sts.get_caller_identity()["Arn"])
    if action == "record":
        record = ledger.record(args.employee_id, ConsentMethod(args.method), args.document, actor)
        print(f"{record.employee_id}: consent recorded at {record.at} ({record.method})")
        return 0
    eraser = Eraser(stores_for(clients, stack, actor, args.collection_id), actor)
    certificate = eraser.withdraw_consent(args.employee_id)
    print(f"{args.employee_id}: consent withdrawn; faces erased")
    print(certificate.text())
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("consent", help="consent records for face enrollment")
    commands = parser.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="main stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    common.add_argument("--region", default=None)
    common.add_argument("--endpoint-url", default=None)
    common.add_argument("--collection-id", default=None, help="default: the stack's output")
    record = commands.add_parser("record", parents=[common], help="record an employee's consent")
    record.add_argument("employee_id", metavar="EMP-ID")
    record.add_argument("--method", required=True, choices=[m.value for m in ConsentMethod])
    record.add_argument(
        "--document", required=True, metavar="REF", help="the signed form's reference"
    )
    listing = commands.add_parser("list", parents=[common], help="every employee's current consent")
    add_output_argument(listing)
    withdraw = commands.add_parser(
        "withdraw", parents=[common], help="record a withdrawal and erase the employee's faces"
    )
    withdraw.add_argument("employee_id", metavar="EMP-ID")
    for sub in commands.choices.values():
        sub.set_defaults(func=lambda args: run(args, clients_from_args(args)))
