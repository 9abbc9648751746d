"""The Slack channel: alerts to the site's channel (app) or webhook, health changes to ops.

App mode (a bot token in the app secret): the alert is posted with chat.postMessage, its channel
and ts kept on the incident, and the message follows the incident: ``Incident Updated`` (live, from
face_events, at most one per incident per SLACK_UPDATE_MIN_INTERVAL_SECONDS) re-renders it as
the incident grows; ``Incident Status Changed`` and ``Incident Merged`` re-render it and add a
note to its thread; the alert ticker reconciles every message each minute, which catches a
trailing change the throttle held back and the end of the visit (``threads.py``). Webhook mode
posts one message per incident and cannot update it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import Field

from facewatch.alerts.event import ALERT_DETAIL_TYPE, AlertDetail, ContractModel
from facewatch.alerts.fanout import BusEnvelope, Once, Outcome, UnsupportedEventError
from facewatch.alerts.slack.alarms import ALARM_DETAIL_TYPE, AlarmStateChange, alarm_message
from facewatch.alerts.slack.app import SlackAppConfig
from facewatch.alerts.slack.messages import (
    HEALTH_DETAIL_TYPE,
    CameraHealthNotice,
    Lifecycle,
    SlackMessage,
    alert_message,
    health_message,
)
from facewatch.alerts.slack.threads import SlackThreads
from facewatch.alerts.slack.webhooks import OPS_ROUTE, WebhookRoutes
from facewatch.alerts.updated import UPDATED_DETAIL_TYPE, IncidentUpdatedDetail
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.observability import logger

STATUS_CHANGED_DETAIL_TYPE = "Incident Status Changed"  # audit/lifecycle.py publishes it
MERGED_DETAIL_TYPE = "Incident Merged"  # detections publishes it (schemas/incident-merged)
_STATUS_NOTES = {
    "acknowledged": "✅ Acknowledged",
    "false_alarm": "⚪ Marked a false alarm",
    "escalated": "🔺 Escalated",
    "open": "🔴 Reopened",
}


class StatusNotice(ContractModel):
    """What this notifier reads of ``Incident Status Changed`` (tolerant reader)."""

    incident_id: str
    status: str
    changed_at: str = ""
    actor: dict[str, Any] = Field(default_factory=dict)


class MergedNotice(ContractModel):
    """What this notifier reads of ``Incident Merged``: the absorbed incident and its survivor."""

    incident_id: str = Field(description="The absorbed incident (its message says merged)")
    merged_into: str = Field(description="The incident that continues the visit")


class SlackSender(Protocol):
    def post(self, url: str, message: SlackMessage, route: str) -> None: ...


class Snapshots(Protocol):
    def snapshot_url(self, detail: AlertDetail) -> str | None: ...


class NoSnapshots:
    def snapshot_url(self, detail: AlertDetail) -> str | None:
        return None


def _no_app() -> SlackAppConfig | None:
    return None


@dataclass(slots=True)
class SlackAdapters:
    routes: WebhookRoutes
    sender: SlackSender
    once: Once
    clip_links: ClipLinks
    snapshots: Snapshots
    app: Callable[[], SlackAppConfig | None] = _no_app  # None: webhook mode
    threads: SlackThreads | None = None
    clock: Callable[[], float] = field(default=time.time)
    mention: str = "<!here>"
    match_threshold: float = 80.0


class SlackNotifier:
    name = "slack"

    def __init__(self, adapters: SlackAdapters) -> None:
        self._adapters = adapters

    def deliver(self, envelope: BusEnvelope) -> Outcome:
        if envelope.detail_type == ALERT_DETAIL_TYPE:
            detail = AlertDetail.model_validate(envelope.detail)
            sent = self._adapters.once.run(
                f"alert#{detail.incident_id}", lambda: self._send_alert(detail)
            )
            key = detail.incident_id
        elif envelope.detail_type == HEALTH_DETAIL_TYPE:
            notice = CameraHealthNotice.model_validate(envelope.detail)
            sent = self._adapters.once.run(
                notice.once_key(),
                lambda: self._send_health(notice),
            )
            key = notice.camera_id
        elif envelope.detail_type == ALARM_DETAIL_TYPE:  # the stack's own alarms, to ops
            change = AlarmStateChange.model_validate(envelope.detail)
            sent = self._adapters.once.run(change.once_key, lambda: self._send_alarm(change))
            key = change.alarm_name
        elif envelope.detail_type == STATUS_CHANGED_DETAIL_TYPE:
            return self._status_changed(StatusNotice.model_validate(envelope.detail))
        elif envelope.detail_type == MERGED_DETAIL_TYPE:
            return self._merged(MergedNotice.model_validate(envelope.detail))
        elif envelope.detail_type == UPDATED_DETAIL_TYPE:
            return self._updated(IncidentUpdatedDetail.model_validate(envelope.detail))
        else:
            raise UnsupportedEventError(
                f"no Slack message for detail-type {envelope.detail_type!r}"
            )
        if not sent:
            logger.info("already sent to Slack", extra={"key": key})
        return Outcome.SENT if sent else Outcome.DUPLICATE

    def _send_alert(self, detail: AlertDetail) -> None:
        adapters = self._adapters
        location = detail.location
        site_keys = location.slack_keys if location else []
        app = adapters.app()
        snapshot = adapters.snapshots.snapshot_url(detail)
        view = alert_view(
            detail,
            adapters.clip_links.link_for(detail),
            snapshot,
            match_threshold=adapters.match_threshold,
        )
        message = alert_message(view, Lifecycle(mention=adapters.mention))
        if app is not None and adapters.threads is not None:
            route, channel = app.channel_for(site_keys)
            adapters.threads.post(channel, detail, message, snapshot)
        else:
            route, url = adapters.routes.url_for(site_keys)
            adapters.sender.post(url, message, route)
        logger.info(
            "alert sent to Slack",
            extra={
                "incident_id": detail.incident_id,
                "route": route,
                "mode": "app" if app else "webhook",
                "snapshot": snapshot is not None,
                "clip": view.clip_link is not None,
            },
        )

    def _threads(self) -> SlackThreads | None:
        if self._adapters.threads is None or self._adapters.app() is None:
            return None
        return self._adapters.threads

    def _status_changed(self, notice: StatusNotice) -> Outcome:
        threads = self._threads()
        if threads is None:
            return Outcome.NOT_ROUTED  # webhook mode: the button already replaced the message
        result = threads.reconcile(notice.incident_id, self._adapters.clock())
        actor = notice.actor
        if actor.get("channel") != "facewatch":  # the ticker writes its own escalation note
            who = actor.get("id") or ""
            name = f"<@{who}>" if actor.get("channel") == "slack" else actor.get("name") or who
            text = _STATUS_NOTES.get(notice.status, notice.status) + (f" by {name}" if name else "")
            threads.note(notice.incident_id, f"status#{notice.status}#{notice.changed_at}", text)
        logger.info(
            "Slack message follows a status change",
            extra={"incident_id": notice.incident_id, "status": notice.status, "update": result},
        )
        return Outcome.SENT

    def _updated(self, detail: IncidentUpdatedDetail) -> Outcome:
        """The incident grew: its message follows. Rendered from the incident item, not the
        event, so a late or reordered update never shows an older state and a forged one
        changes nothing; the message's own claim keeps it to one chat.update per interval."""
        threads = self._threads()
        if threads is None:
            return Outcome.NOT_ROUTED  # webhook mode: one message, never updated
        result = threads.reconcile(detail.incident_id, self._adapters.clock())
        logger.info(
            "Slack message follows the incident",
            extra={
                "incident_id": detail.incident_id,
                "detections": detail.detections,
                "update": result,
            },
        )
        # "none" (no message on the incident yet: its alert is still on the way) and
        # "throttled" are left to the ticker, which reconciles every message each minute
        return Outcome.SENT if result == "updated" else Outcome.UNCHANGED

    def _merged(self, notice: MergedNotice) -> Outcome:
        threads = self._threads()
        if threads is None:
            return Outcome.NOT_ROUTED
        now = self._adapters.clock()
        result = threads.reconcile(notice.incident_id, now, merged_into=notice.merged_into)
        threads.note(
            notice.incident_id,
            f"merged#{notice.merged_into}",
            f"🔗 Merged into `{notice.merged_into}`: the same visit; its message carries on.",
        )
        threads.reconcile(notice.merged_into, now)  # the survivor grew by the absorbed frames
        logger.info(
            "Slack message follows a merge",
            extra={"incident_id": notice.incident_id, "into": notice.merged_into, "update": result},
        )
        return Outcome.SENT

    def _send_health(self, notice: CameraHealthNotice) -> None:
        route, url = self._adapters.routes.url_for([OPS_ROUTE])
        self._adapters.sender.post(url, health_message(notice), route)
        logger.info(
            "camera health sent to Slack",
            extra={"camera_id": notice.camera_id, "state": notice.state, "route": route},
        )

    def _send_alarm(self, change: AlarmStateChange) -> None:
        route, url = self._adapters.routes.url_for([OPS_ROUTE])
        self._adapters.sender.post(url, alarm_message(change), route)
        logger.info(
            "alarm state change sent to Slack",
            extra={"alarm": change.alarm_name, "state": change.state.value, "route": route},
        )
