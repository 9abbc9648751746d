"""`facewatch privacy report`: the facts a DPIA, a BIPA retention policy or a records-of-
processing entry needs, per site, from the deployed stack and the inventory.

One document model (sections of paragraphs and tables) rendered as Markdown and as HTML, so
the two never disagree. Facts only: the assessment (necessity, risks) is the customer's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime

from facewatch.fleet.inventory import Inventory
from facewatch.fleet.profiles import PrivacyProfile
from facewatch_tools.privacy.stores import PrivacyClients, StackResources, ledger_for

Table = list[list[str]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table = field(default_factory=list)  # first row: the header


@dataclass
class SiteFacts:
    site_id: str
    name: str
    profile: PrivacyProfile
    cameras: list[tuple[str, str, str]]  # id, zone, what runs
    slack_route: str


@dataclass
class StackFacts:
    stack_name: str
    region: str
    generated_at: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    consent: dict[str, int]
    sms_subscribers: int | None
    sites: list[SiteFacts]


def collect_facts(
    inventory: Inventory, stack: StackResources, clients: PrivacyClients, stack_name: str
) -> StackFacts:
    described = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
    }
    consent = ledger_for(clients, stack).counts() if "ConsentTableName" in stack.outputs else {}
    sites = []
    for site in inventory.sites:
        profile = inventory.profile(site.id)
        cameras = [
            (
                c.id,
                c.zone or "-",
                c.detector.value if profile.recognition else "video only (recognition off)",
            )
            for c in inventory.cameras_at(site.id)
        ]
        sites.append(SiteFacts(site.id, site.name, profile, cameras, site.slack_route or site.id))
    return StackFacts(
        stack_name=stack_name,
        region=clients.region,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        outputs=stack.outputs,
        parameters=parameters,
        consent=consent,
        sms_subscribers=_sms_subscribers(clients, stack),
        sites=sites,
    )


def _sms_subscribers(clients: PrivacyClients, stack: StackResources) -> int | None:
    topic = stack.outputs.get("AlertsTopicArn")
    if topic is None or clients.sns is None:
        return None
    count = 0
    for page in clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
        count += sum(1 for s in page.get("Subscriptions", []) if s.get("Protocol") == "sms")
    return count


def _days(value: int) -> str:
    return f"{value} days"


def site_document(facts: StackFacts, site: SiteFacts) -> list[Section]:
    p = site.profile
    r = p.retention
    out = facts.outputs
    ceiling = facts.parameters.get("RetentionDays", "400")
    snapshot_ceiling = facts.parameters.get("SnapshotRetentionDays", "30")
    recognition = "on" if p.recognition else "OFF: no face search, no face data stored"
    sections = [
        Section(
            "Purpose",
            [
                f"Tell the security team of {site.name} within seconds when a person who is not an "
                "enrolled employee is on camera, with a clip to review (one alert per visit). "
                "Not used for attendance, performance or any other purpose.",
                f"Legal basis and necessity: the customer's assessment. Profile: `{p.id}` "
                f"({p.description}).",
            ],
        ),
        Section(
            "Privacy profile",
            table=[
                ["setting", "value"],
                ["face recognition", recognition],
                ["consent record needed to enroll", "yes" if p.consent_required else "no"],
                ["faces blurred in Slack snapshots", "yes" if p.blur_faces else "no"],
                ["face attributes requested", "DEFAULT only (no emotion, age, gender)"],
            ],
        ),
        Section(
            "Cameras",
            table=[["camera", "zone", "what runs"], *[list(c) for c in site.cameras]],
        ),
        Section(
            "Data categories, storage and retention",
            [
                "Stack parameters are ceilings: the shorter of the profile and the ceiling "
                "applies. DynamoDB TTL deletes within days of expiry; S3 lifecycle within a day.",
            ],
            table=[
                ["data", "where (region " + facts.region + ")", "retention"],
                [
                    "video (all people in view)",
                    "Kinesis Video Streams, one stream per camera",
                    "the camera stack's RetentionHours",
                ],
                [
                    "employee face templates (enrolled)",
                    f"Rekognition collection {out.get('CollectionId', '-')}",
                    "until removed: offboarding, consent withdrawal, erasure",
                ],
                [
                    "incidents (camera, times, face box, counts) and trail",
                    f"DynamoDB {out.get('TableName', '-')}",
                    f"{_days(r.incidents)} (ceiling {ceiling})",
                ],
                [
                    "camera grouping state (face boxes of open visits)",
                    f"DynamoDB {out.get('TableName', '-')}",
                    f"{_days(r.camera_state)} after the last detection",
                ],
                [
                    "snapshots (one frame per alert"
                    + (", faces blurred)" if p.blur_faces else ")"),
                    f"S3 {out.get('SnapshotBucketName', '-')}",
                    f"{_days(r.snapshots)} (ceiling {snapshot_ceiling})",
                ],
                ["archived clips (MP4)", "S3 clip archive", _days(r.clips)],
                [
                    "consent records, erasure certificates",
                    f"DynamoDB {out.get('ConsentTableName', '-')}",
                    "while the employee's data is held; certificates kept",
                ],
                [
                    "alert events (no image)",
                    "EventBridge archive",
                    facts.parameters.get("EventArchiveRetentionDays", "90") + " days",
                ],
                ["backups of the tables", "DynamoDB point-in-time recovery", "35 days"],
            ],
        ),
        Section(
            "Recipients",
            table=[
                ["recipient", "what"],
                [
                    f"Slack (webhook route `{site.slack_route}`, else `default`)",
                    "alert, snapshot, clip link",
                ],
                [
                    "SMS subscribers of the alerts topic"
                    + (f" ({facts.sms_subscribers})" if facts.sms_subscribers is not None else ""),
                    "alert text and clip link (no image)",
                ],
                ["AWS (processor)", "hosting and the face-search service, in " + facts.region],
            ],
        ),
        Section(
            "Safeguards",
            [
                "Encryption at rest with one customer-managed KMS key (tables, queues, bucket, "
                "bus, logs); TLS only. Least-privilege IAM per function. Clip links signed and "
                "expiring; snapshot URLs presigned and expiring. Every clip view and snapshot URL "
                "issued is logged in the incident's trail (`facewatch audit show`). Logs never "
                "hold face data. Unknown faces are never indexed into a collection.",
            ],
        ),
        Section(
            "Consent",
            table=[
                ["given", "withdrawn"],
                [str(facts.consent.get("given", 0)), str(facts.consent.get("withdrawn", 0))],
            ],
        ),
        Section(
            "Rights and erasure",
            [
                "Access: `facewatch privacy export-subject --employee ID`. Erasure: "
                "`privacy erase-employee`, `erase-incident`, `erase --camera --since --until`; "
                "each writes a certificate and lists what backups still hold and until when.",
            ],
        ),
        Section(
            "Worker notice (EU AI Act Art. 26, GDPR Art. 13)",
            [
                "Before use, inform workers and their representatives: that face recognition "
                f"runs at {site.name}, for which purpose, how long each kind of data is kept "
                "(above), who receives alerts, and how to opt out (no enrollment; badge-based "
                "presence instead) or ask for access and erasure.",
            ],
        ),
    ]
    return sections


def _title(facts: StackFacts, site: SiteFacts) -> str:
    return f"Processing facts: {site.name} ({site.site_id})"


def _meta(facts: StackFacts) -> str:
    return (
        f"From stack `{facts.stack_name}` in {facts.region} and the inventory, "
        f"{facts.generated_at}. Facts for a DPIA, a retention policy or a records-of-processing "
        "entry; not legal advice."
    )


def render_markdown(facts: StackFacts, site: SiteFacts) -> str:
    lines = [f"# {_title(facts, site)}", "", _meta(facts), ""]
    for section in site_document(facts, site):
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.table:
            header, *rows = section.table
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape, then `code` spans (the only Markdown the paragraphs use)."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(facts: StackFacts, site: SiteFacts) -> str:
    body = [f"<h1>{_inline(_title(facts, site))}</h1>", f"<p>{_inline(_meta(facts))}</p>"]
    for section in site_document(facts, site):
        body.append(f"<h2>{_inline(section.title)}</h2>")
        body += [f"<p>{_inline(p)}</p>" for p in section.paragraphs]
        if section.table:
            header, *rows = section.table
            body.append("<table><thead><tr>")
            body += [f"<th>{_inline(h)}</th>" for h in header]
            body.append("</tr></thead><tbody>")
            for row in rows:
                body.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
            body.append("</tbody></table>")
    style = "body{font:15px system-ui,sans-serif;margin:2rem;max-width:60rem}" + (
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(_title(facts, site))}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
