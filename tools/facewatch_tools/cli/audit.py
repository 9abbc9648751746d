"""`facewatch audit ...`: incidents, one incident's trail, status changes, the HTML report.

Every command reads page by page through the table's keys and indexes (never a Scan), so it
works the same on a week or on a year of history.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError

from facewatch.audit.history import IncidentHistory, IncidentNotFoundError, IncidentRecord
from facewatch.audit.lifecycle import STATUSES, Actor
from facewatch.clips.links import sign_clip_link
from facewatch.fleet.registry import RegistryReader
from facewatch_tools.audit.browser import print_pdf
from facewatch_tools.audit.report import MIN_CAMERA_INCIDENTS, collect, render_html
from facewatch_tools.aws_targets import DEFAULT_STACK

COLUMNS = (
    "incident_id",
    "first_seen",
    "last_seen",
    "site_id",
    "camera_id",
    "status",
    "detections",
    "alerted_at",
    "first_response_at",
    "first_response_by",
)
_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """ISO date or time (UTC unless it says so), or a span back from now: 30m, 12h, 7d, 2w."""
    match = _RELATIVE.match(value.strip())
    if match:
        current = now or datetime.now(UTC)
        return current - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time (use 2026-05-01, 2026-05-01T08:00Z or 7d)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _client(args: argparse.Namespace, service: str) -> Any:
    return boto3.client(service, region_name=args.region, endpoint_url=args.endpoint_url)


def resolve_table(args: argparse.Namespace) -> str:
    if args.table:
        return str(args.table)
    stacks = _client(args, "cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "TableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {args.stack} has no TableName output")


def history_for(args: argparse.Namespace) -> IncidentHistory:
    return IncidentHistory(_client(args, "dynamodb"), resolve_table(args), page_size=args.page_size)


def _row(incident: IncidentRecord) -> dict[str, str]:
    values = incident.model_dump(mode="json")
    return {c: "" if values.get(c) is None else str(values[c]) for c in COLUMNS}


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)); a
# leading apostrophe makes it text again (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def write_incidents(incidents: Iterable[IncidentRecord], fmt: str, out: TextIO) -> int:
    """Stream the rows out as they are read; returns how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for count, incident in enumerate(incidents, 1):  # noqa: B007 - the count is the result
            writer.writerow({c: csv_cell(v) for c, v in _row(incident).items()})
    elif fmt == "json":
        out.write("[")
        for count, incident in enumerate(incidents, 1):
            out.write(("," if count > 1 else "") + "\n  " + incident.model_dump_json(by_alias=True))
        out.write("\n]\n")
    else:
        widths = (26, 24, 24, 14, 18, 12, 5, 24, 24, 16)
        out.write("  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
        out.write("\n")
        for count, incident in enumerate(incidents, 1):  # noqa: B007
            row = _row(incident)
            line = "  ".join(row[c].ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
            out.write(line.rstrip() + "\n")
    return count


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def cmd_incidents(args: argparse.Namespace) -> int:
    history = history_for(args)
    incidents: Iterator[IncidentRecord] = history.incidents(
        site=args.site,
        camera=args.camera,
        status=args.status,
        since=_epoch(args.since),
        until=_epoch(args.until),
        newest_first=args.newest_first,
    )
    count = write_incidents(incidents, args.format, sys.stdout)
    print(f"{count} incidents", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    history = history_for(args)
    incident = history.get(args.incident)
    if incident is None:
        print(f"incident {args.incident} not found (never existed, or expired)", file=sys.stderr)
        return 1
    trail = list(history.trail(args.incident))
    if args.format == "json":
        document = {
            "incident": incident.model_dump(mode="json", by_alias=True),
            "trail": [t.model_dump(mode="json") for t in trail],
        }
        print(json.dumps(document, indent=2))
        return 0
    for key, value in incident.model_dump(mode="json").items():
        print(f"{key:>18}: {'' if value is None else value}")
    print("\ntrail:")
    for entry in trail:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))
        print(f"  {entry.at.isoformat()}  {entry.kind:<24} {entry.actor:<16} {extra}")
    return 0


def cmd_set_status(args: argparse.Namespace) -> int:
    history = history_for(args)
    actor = Actor(
        id=args.by or getpass.getuser(),
        channel="cli",
        origin=f"cli:{socket.gethostname()}",
        # --by is what the caller claims; the trail also keeps who AWS says the caller is.
        principal=_client(args, "sts").get_caller_identity()["Arn"],
    )
    now = datetime.now(UTC).timestamp()
    try:
        change = history.change_status(args.incident, args.status, actor, now)
    except IncidentNotFoundError:
        print(f"incident {args.incident} not found", file=sys.stderr)
        return 1
    if change.applied:
        print(f"{args.incident}: {change.previous} -> {change.incident.status}")
        return 0
    by = change.incident.status_changed_by or "facewatch"
    print(f"{args.incident}: not changed, it is {change.incident.status} (by {by})")
    return 0 if not change.conflict else 3


def cmd_report(args: argparse.Namespace) -> int:
    if args.until <= args.since:
        raise SystemExit("--until must be after --since")
    if not Path(args.out).resolve().parent.is_dir():
        raise FileNotFoundError(2, "no such folder for the report", str(Path(args.out).parent))
    history = history_for(args)
    since, until = args.since.timestamp(), args.until.timestamp()
    data = collect(
        args.since.astimezone(UTC),
        args.until.astimezone(UTC),
        history.incidents(since=since, until=until),
        history.employee_events(since=since, until=until),
    )
    source = args.table or f"stack {args.stack}"
    page = render_html(
        data,
        datetime.now(UTC),
        source,
        min_camera_incidents=args.min_incidents,
        site_zones=_site_zones(args),
        clip_link=_clip_links(args),
    )
    Path(args.out).write_text(page, encoding="utf-8")
    print(f"{args.out}: {data.total} incidents, {len(data.employees)} employee changes")
    if args.pdf:
        print_pdf(Path(args.out), Path(args.pdf))
        print(f"{args.pdf}: printed by headless Chromium")
    return 0


def _site_zones(args: argparse.Namespace) -> dict[str, str]:
    """Each site's time zone from the registry in the table (the ledger shows site time)."""
    table = boto3.resource(
        "dynamodb", region_name=args.region, endpoint_url=args.endpoint_url
    ).Table(resolve_table(args))
    return {site.site_id: site.time_zone for site in RegistryReader(table).sites()}


CLIP_LINK_DAYS = 30  # the report's clip links play this long (the video's own retention aside)


def _clip_links(args: argparse.Namespace) -> Callable[[str], str] | None:
    """Signed clip links for the ledger when the stack and its link key can be read."""
    if args.table or args.no_clip_links:
        return None
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in _client(args, "cloudformation")
        .describe_stacks(StackName=args.stack)["Stacks"][0]
        .get("Outputs", [])
    }
    base, secret = outputs.get("ClipLinkBaseUrl"), outputs.get("ClipLinkKeySecretArn")
    if not (base and secret):
        return None
    try:
        key = _client(args, "secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    except ClientError as exc:
        print(f"no clip links in the ledger: {exc.response['Error']['Code']}", file=sys.stderr)
        return None
    expires = int(datetime.now(UTC).timestamp()) + CLIP_LINK_DAYS * 86_400
    return lambda incident: sign_clip_link(base, incident, expires, key.encode())


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="facewatch stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    where.add_argument("--table", help="incidents table name")
    common.add_argument("--endpoint-url", help="e.g. http://127.0.0.1:5000 for local mode")
    common.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    common.add_argument("--page-size", type=int, default=None, help=argparse.SUPPRESS)
    return common


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="incident history, trails and reports")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    common = _common()

    incidents = commands.add_parser("incidents", parents=[common], help="list incidents")
    incidents.add_argument("--site")
    incidents.add_argument("--camera")
    incidents.add_argument("--status", choices=STATUSES)
    incidents.add_argument("--since", type=parse_time, help="first seen at or after")
    incidents.add_argument("--until", type=parse_time, help="first seen before")
    incidents.add_argument(
        "--output", "--format", dest="format", choices=("table", "csv", "json"), default="table"
    )
    incidents.add_argument("--newest-first", action="store_true")
    incidents.set_defaults(func=cmd_incidents)

    show = commands.add_parser("show", parents=[common], help="one incident and its whole trail")
    show.add_argument("incident")
    show.add_argument(
        "--output", "--format", dest="format", choices=("text", "json"), default="text"
    )
    show.set_defaults(func=cmd_show)

    status = commands.add_parser(
        "set-status", parents=[common], help="record a status change (appended to the trail)"
    )
    status.add_argument("incident")
    status.add_argument("status", choices=STATUSES)
    status.add_argument("--by", help="who (default: the local user name)")
    status.set_defaults(func=cmd_set_status)

    report = commands.add_parser("report", parents=[common], help="HTML report of a period")
    report.add_argument("--since", type=parse_time, required=True)
    report.add_argument("--until", type=parse_time, required=True)
    report.add_argument("--out", required=True, help="FILE.html")
    report.add_argument("--pdf", help="also print it to FILE.pdf (headless Chromium)")
    report.add_argument(
        "--min-incidents",
        type=int,
        default=MIN_CAMERA_INCIDENTS,
        help="rank false alarms only for cameras with this many incidents (%(default)s)",
    )
    report.add_argument(
        "--no-clip-links", action="store_true", help="leave clip links out of the ledger"
    )
    report.set_defaults(func=cmd_report)
