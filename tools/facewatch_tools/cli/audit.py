"""`facewatch audit ...`: incidents, one incident's trail, status changes, the HTML report.

Every command reads page by page through the table's keys and indexes (never a Scan), so it
works the same on a week or on a year of history. With sites in several regions every command
reads each region's table and merges the answers here (time order, one cursor across regions);
`--region` restricts it; a region that cannot be reached is named and the rest answers.
Nothing is copied between regions (docs/regions.md).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from facewatch.audit.history import IncidentHistory, IncidentNotFoundError, IncidentRecord
from facewatch.audit.lifecycle import STATUSES, Actor
from facewatch.audit.merged import (
    Cursor,
    CursorError,
    MergedHistory,
    RegionalHistory,
    RegionalIncident,
)
from facewatch.clips.links import sign_clip_link
from facewatch.fleet.inventory import Inventory, load_inventory
from facewatch.fleet.registry import RegistryReader
from facewatch_tools.audit.browser import print_pdf
from facewatch_tools.audit.report import MIN_CAMERA_INCIDENTS, collect, render_html
from facewatch_tools.aws_targets import DEFAULT_STACK, check_endpoint
from facewatch_tools.cli.cameras import add_region_arguments, endpoints, single_region
from facewatch_tools.cli.errors import EXIT_RUNTIME
from facewatch_tools.fleet.regional import endpoint_for, label, named, target_regions
from facewatch_tools.listing import Column, add_document_output, add_output_argument, write_rows

# The table shows the first eleven (27: a time with microseconds); JSON and CSV carry every field.
COLUMNS = (
    Column("incidentId", 26),
    Column("firstSeen", 27),
    Column("lastSeen", 27),
    Column("siteId", 14),
    Column("cameraId", 18),
    Column("status", 12),
    Column("detections", 5),
    Column("alertedAt", 27),
    Column("firstResponseAt", 27),
    Column("firstResponseBy", 16),
    Column("region", 14),  # the region whose table holds the incident
    Column("alertState", table=False),
    Column("statusChangedAt", table=False),
    Column("statusChangedBy", table=False),
    Column("streamArn", table=False),
    Column("expiresAt", table=False),
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


# A region that does not answer should cost seconds, not botocore's default minute.
_REGIONAL = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard"})


def _client(args: argparse.Namespace, service: str, region: str | None = None) -> Any:
    region = region or single_region(args)
    url = endpoint_for(endpoints(args), region)
    if url:
        check_endpoint(url)
    return boto3.client(service, region_name=region, endpoint_url=url, config=_REGIONAL)


def resolve_table(args: argparse.Namespace, region: str | None = None) -> str:
    if args.table:
        return str(args.table)
    cloudformation = _client(args, "cloudformation", region)
    stacks = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "TableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {args.stack} has no TableName output")


def history_for(args: argparse.Namespace, region: str | None = None) -> IncidentHistory:
    return IncidentHistory(
        _client(args, "dynamodb", region), resolve_table(args, region), page_size=args.page_size
    )


def merged_for(args: argparse.Namespace) -> MergedHistory:
    """Every region the inventory's sites name (or the --region values), one history each."""
    path = Path(args.inventory)
    inventory = load_inventory(path) if path.is_file() else Inventory()

    def opener(region: str | None) -> Any:
        return lambda: history_for(args, region)

    regions = target_regions(inventory, args.region, shared_endpoint=_one_local_endpoint(args))
    return MergedHistory([RegionalHistory(label(region), opener(region)) for region in regions])


def report_unreachable(merged: MergedHistory) -> int:
    """Name every region that did not answer; the exit code says the answer is partial."""
    merged.raise_if_none_answered()
    for region, why in merged.unreachable.items():
        print(
            f"region {region} could not be reached ({why}): its incidents are missing "
            "from this answer",
            file=sys.stderr,
        )
    return EXIT_RUNTIME if merged.unreachable else 0


def write_incidents(incidents: Iterable[IncidentRecord], fmt: str, out: TextIO) -> int:
    """Stream the rows out as they are read; returns how many."""
    rows = (incident.model_dump(mode="json", by_alias=True) for incident in incidents)
    return write_rows(rows, COLUMNS, fmt, out)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def cmd_incidents(args: argparse.Namespace) -> int:
    merged = merged_for(args)
    try:
        cursor = Cursor.decode(args.cursor, args.newest_first) if args.cursor else None
    except CursorError as exc:
        raise SystemExit(f"--cursor: {exc}") from exc
    filters: dict[str, Any] = {
        "site": args.site,
        "camera": args.camera,
        "status": args.status,
        "since": _epoch(args.since),
        "until": _epoch(args.until),
        "newest_first": args.newest_first,
    }
    next_cursor = None
    incidents: Iterable[IncidentRecord]
    if args.limit:
        page = merged.page(args.limit, cursor, **filters)
        incidents, next_cursor = page.incidents, page.next_cursor
    else:
        incidents = merged.incidents(cursor=cursor, **filters)
    count = write_incidents(incidents, args.output, sys.stdout)
    merged.raise_if_none_answered()
    where = ", ".join(merged.regions)
    print(f"{count} incidents ({where})", file=sys.stderr)
    if next_cursor is not None:
        print(f"next page: --cursor {next_cursor.encode()}", file=sys.stderr)
    return report_unreachable(merged)


def find_incident(args: argparse.Namespace) -> tuple[MergedHistory, RegionalIncident] | None:
    """The incident and its region's history, or None (said on stderr, with the regions that
    could not be asked)."""
    merged = merged_for(args)
    incident = merged.get(args.incident)
    if incident is None:
        merged.raise_if_none_answered()
        print(f"incident {args.incident} not found (never existed, or expired)", file=sys.stderr)
        report_unreachable(merged)
        return None
    return merged, incident


def cmd_show(args: argparse.Namespace) -> int:
    found = find_incident(args)
    if found is None:
        return 1
    merged, incident = found
    trail = list(merged.history_of(incident.region).trail(args.incident))
    if args.output == "json":
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
    located = find_incident(args)
    if located is None:
        return 1
    merged, found = located
    history = merged.history_of(found.region)  # the change is written in its own region
    actor = Actor(
        id=args.by or getpass.getuser(),
        channel="cli",
        origin=f"cli:{socket.gethostname()}",
        # --by is what the caller claims; the trail also keeps who AWS says the caller is.
        principal=_client(args, "sts", named(found.region)).get_caller_identity()["Arn"],
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
    merged = merged_for(args)
    since, until = args.since.timestamp(), args.until.timestamp()
    incidents = list(merged.incidents(since=since, until=until))
    merged.raise_if_none_answered()
    data = collect(
        args.since.astimezone(UTC),
        args.until.astimezone(UTC),
        incidents,
        list(merged.employee_events(since=since, until=until)),
    )
    source = (args.table or f"stack {args.stack}") + " in " + ", ".join(merged.regions)
    if merged.unreachable:
        source += "; NOT INCLUDED (could not be reached): " + ", ".join(merged.unreachable)
    page = render_html(
        data,
        datetime.now(UTC),
        source,
        min_camera_incidents=args.min_incidents,
        site_zones=_site_zones(args, merged.regions),
        clip_link=_clip_links(args, {row.incident_id: row.region for row in data.ledger}),
    )
    Path(args.out).write_text(page, encoding="utf-8")
    print(f"{args.out}: {data.total} incidents, {len(data.employees)} employee changes")
    if args.pdf:
        print_pdf(Path(args.out), Path(args.pdf))
        print(f"{args.pdf}: printed by headless Chromium")
    return report_unreachable(merged)


def _site_zones(args: argparse.Namespace, regions: Iterable[str]) -> dict[str, str]:
    """Each site's time zone from its region's registry (the ledger shows site time)."""
    zones: dict[str, str] = {}
    for region_label in regions:
        region = named(region_label)
        try:
            resource = boto3.resource(
                "dynamodb", region_name=region, endpoint_url=endpoint_for(endpoints(args), region)
            )
            table = resource.Table(resolve_table(args, region))
            zones.update({s.site_id: s.time_zone for s in RegistryReader(table).sites()})
        except (ClientError, BotoCoreError):
            continue  # the ledger shows UTC for that region's sites
    return zones


CLIP_LINK_DAYS = 30  # the report's clip links play this long (the video's own retention aside)


def _clip_links(
    args: argparse.Namespace, region_of: dict[str, str | None]
) -> Callable[[str], str] | None:
    """Signed clip links for the ledger, from each region's stack and link key when readable."""
    if args.table or args.no_clip_links:
        return None
    expires = int(datetime.now(UTC).timestamp()) + CLIP_LINK_DAYS * 86_400
    signers: dict[str | None, Callable[[str], str]] = {}
    for region_label in sorted({r for r in region_of.values() if r is not None}):
        signer = _region_signer(args, named(region_label), expires)
        if signer is not None:
            signers[region_label] = signer
    if not signers:
        return None
    return lambda incident: (signers.get(region_of.get(incident)) or (lambda _i: ""))(incident)


def _region_signer(
    args: argparse.Namespace, region: str | None, expires: int
) -> Callable[[str], str] | None:
    try:
        stack = _client(args, "cloudformation", region).describe_stacks(StackName=args.stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}
        base, secret = outputs.get("ClipLinkBaseUrl"), outputs.get("ClipLinkKeySecretArn")
        if not (base and secret):
            return None
        key = _client(args, "secretsmanager", region).get_secret_value(SecretId=secret)
    except ClientError as exc:
        print(
            f"no clip links for {label(region)}: {exc.response['Error']['Code']}", file=sys.stderr
        )
        return None
    secret_key = str(key["SecretString"]).encode()
    return lambda incident: sign_clip_link(base, incident, expires, secret_key)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="facewatch stack (default: $FACEWATCH_STACK or facewatch-dev)",
    )
    where.add_argument("--table", help="incidents table name")
    common.add_argument(
        "--inventory", default="cameras.yaml", help="camera inventory (its sites' regions)"
    )
    add_region_arguments(common)
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
    add_output_argument(incidents)
    incidents.add_argument("--newest-first", action="store_true")
    incidents.add_argument("--limit", type=int, default=None, help="incidents per page")
    incidents.add_argument("--cursor", default=None, help="the next page (as printed)")
    incidents.set_defaults(func=cmd_incidents)

    show = commands.add_parser("show", parents=[common], help="one incident and its whole trail")
    show.add_argument("incident")
    add_document_output(show, alias="--format")
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


def _one_local_endpoint(args: argparse.Namespace) -> bool:
    """AWS_ENDPOINT_URL and no REGION=URL: one local stack, so one region."""
    return bool(os.environ.get("AWS_ENDPOINT_URL")) and not any("=" in e for e in endpoints(args))
