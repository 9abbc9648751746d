"""The alert ticker: every minute, open alerts are brought up to date and, when nobody answers,
escalated once.

- Growth and the end of a visit: each incident of the last day with an app-mode Slack message
  is reconciled (``alerts/slack/threads.py``): detections, last seen, and "visit
  ended after 3 min" once the camera has been quiet for INCIDENT_WINDOW_SECONDS.
- Auto-escalation (off by default): ESCALATE_AFTER_MINUTES names minutes per site
  (``seoul-hq=5,berlin=10``; ``*=15`` for every other site). An incident still ``open`` that
  long after its first detection moves to ``escalated`` (actor ``facewatch``, conditional on
  ``open``, so it happens once and never after an acknowledgement), is published as
  ``Incident Status Changed``, texts the escalation topic (with the site attribute, so a phone
  scoped to its site gets only its site's escalations) and notes the Slack thread.

The clock is the scheduled event's ``time`` (injected: tests and the demo run it at any time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from facewatch.alerts.bus import BusEvent, EventPublisher
from facewatch.alerts.slack.threads import SlackThreads
from facewatch.audit.history import IncidentHistory, IncidentRecord
from facewatch.audit.lifecycle import (
    STATUS_CHANGED_DETAIL_TYPE,
    STATUSES,
    Actor,
    Status,
    StatusChangedDetail,
)
from facewatch.observability import logger
from facewatch.timestamps import to_datetime

ONLY_OPEN: tuple[Status, ...] = ("open",)
HORIZON_SECONDS = 24 * 3600  # older open incidents are left to the audit tools
FACEWATCH = Actor(id="facewatch", name="facewatch", channel="facewatch", origin="alert-ticker")


def parse_escalation_minutes(value: str) -> dict[str, int]:
    """``"seoul-hq=5, berlin=10, *=15"`` -> {site: minutes}; empty = off everywhere."""
    minutes: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        site, sep, number = part.partition("=")
        if not sep or not number.strip().isdigit() or not site.strip():
            raise ValueError(f"ESCALATE_AFTER_MINUTES: {part!r} is not site=minutes")
        if not 1 <= int(number) <= 24 * 60:
            raise ValueError(f"ESCALATE_AFTER_MINUTES: {part!r}: minutes must be 1-1440")
        minutes[site.strip()] = int(number)
    return minutes


def minutes_for(table: Mapping[str, int], site_id: str) -> int | None:
    return table.get(site_id, table.get("*"))


class EscalationSms(Protocol):
    def publish(self, text: str, attributes: dict[str, str] | None = None) -> str: ...


@dataclass(slots=True)
class TickerDeps:
    history: IncidentHistory
    publisher: EventPublisher
    escalation_sms: EscalationSms
    escalate_after: Mapping[str, int]
    threads: SlackThreads | None = None  # app mode
    clip_link: Callable[[IncidentRecord], str] | None = None


def escalation_text(incident: IncidentRecord, minutes: int, link: str | None) -> str:
    seen = incident.first_seen.strftime("%H:%M UTC")
    return (
        f"facewatch ESCALATED, no answer in {minutes} min: unknown face, site "
        f"{incident.site_id}, camera {incident.camera_id}, {seen}. {link or incident.incident_id}"
    )


def tick(deps: TickerDeps, now: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    since = now - HORIZON_SECONDS
    # Every status: a message also follows an acknowledgement made elsewhere (the CLI publishes
    # no event) and shows the end of the visit; a digest check makes an unchanged one free.
    for status in STATUSES:
        for incident in list(deps.history.incidents(status=status, since=since)):
            counts["incidents"] += 1
            if status == "open":
                counts[_maybe_escalate(deps, incident, now)] += 1
            if deps.threads is not None:
                try:
                    counts[f"slack_{deps.threads.reconcile(incident.incident_id, now)}"] += 1
                except Exception:  # one message failing must not hold the others
                    logger.exception(
                        "Slack message not updated", extra={"incident_id": incident.incident_id}
                    )
                    counts["slack_failed"] += 1
    logger.info("alert tick", extra=dict(counts))
    return counts


def _maybe_escalate(deps: TickerDeps, incident: IncidentRecord, now: float) -> str:
    minutes = minutes_for(deps.escalate_after, incident.site_id)
    if minutes is None or now - incident.first_seen.timestamp() < minutes * 60:
        return "waiting"
    change = deps.history.change_status(
        incident.incident_id, "escalated", FACEWATCH, now, allowed_from=ONLY_OPEN
    )
    if not change.applied:
        return "answered"  # someone acted in between: never escalate over them
    detail = StatusChangedDetail(
        incident_id=incident.incident_id,
        camera_id=incident.camera_id,
        site_id=incident.site_id,
        previous_status="open",
        status="escalated",
        changed_at=to_datetime(now),
        actor=FACEWATCH,
    )
    for failure in deps.publisher.publish(
        [BusEvent(STATUS_CHANGED_DETAIL_TYPE, detail, incident.incident_id)]
    ):
        logger.error("status event not published", extra={"reason": failure.reason})
    link = deps.clip_link(incident) if deps.clip_link else None
    sms_note = "escalation SMS sent"
    try:
        attributes = {"site": incident.site_id, "kind": "escalation"}
        deps.escalation_sms.publish(escalation_text(incident, minutes, link), attributes)
    except Exception:
        logger.exception("escalation SMS failed", extra={"incident_id": incident.incident_id})
        sms_note = "*the escalation SMS could not be sent*: call the escalation list"
    if deps.threads is not None:
        deps.threads.store.note_once(incident.incident_id, f"auto-escalated#{minutes}")
        deps.threads.note(
            incident.incident_id,
            "auto-escalation",
            f"🔺 Escalated: no answer within {minutes} min; {sms_note}.",
        )
    logger.info(
        "incident escalated: no answer",
        extra={"incident_id": incident.incident_id, "minutes": minutes},
    )
    return "escalated"


def scheduled_time(event: Mapping[str, Any], default: float) -> float:
    """The scheduled event's ``time`` (EventBridge writes it), else ``default``."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return default
