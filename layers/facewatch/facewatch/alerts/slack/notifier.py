"""The Slack channel: alerts to the site's webhook (or the default), health changes to ops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from facewatch.alerts.event import ALERT_DETAIL_TYPE, AlertDetail
from facewatch.alerts.fanout import BusEnvelope, Once, Outcome, UnsupportedEventError
from facewatch.alerts.slack.alarms import ALARM_DETAIL_TYPE, AlarmStateChange, alarm_message
from facewatch.alerts.slack.messages import (
    HEALTH_DETAIL_TYPE,
    CameraHealthNotice,
    SlackMessage,
    alert_message,
    health_message,
)
from facewatch.alerts.slack.webhooks import OPS_ROUTE, WebhookRoutes
from facewatch.alerts.view import ClipLinks, alert_view
from facewatch.observability import logger


class SlackSender(Protocol):
    def post(self, url: str, message: SlackMessage, route: str) -> None: ...


class Snapshots(Protocol):
    def snapshot_url(self, detail: AlertDetail) -> str | None: ...


class NoSnapshots:
    def snapshot_url(self, detail: AlertDetail) -> str | None:
        return None


@dataclass(slots=True)
class SlackAdapters:
    routes: WebhookRoutes
    sender: SlackSender
    once: Once
    clip_links: ClipLinks
    snapshots: Snapshots


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
                f"health#{notice.camera_id}#{notice.state}#{notice.at.isoformat()}",
                lambda: self._send_health(notice),
            )
            key = notice.camera_id
        elif envelope.detail_type == ALARM_DETAIL_TYPE:  # the stack's own alarms, to ops
            change = AlarmStateChange.model_validate(envelope.detail)
            sent = self._adapters.once.run(change.once_key, lambda: self._send_alarm(change))
            key = change.alarm_name
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
        # the inventory's route for the site, then the site id, then "default"
        site_keys = [k for k in (location.slack_route, location.site_id) if k] if location else []
        route, url = adapters.routes.url_for(site_keys)
        snapshot = adapters.snapshots.snapshot_url(detail)
        view = alert_view(detail, adapters.clip_links.link_for(detail), snapshot)
        adapters.sender.post(url, alert_message(view), route)
        logger.info(
            "alert sent to Slack",
            extra={
                "incident_id": detail.incident_id,
                "route": route,
                "snapshot": snapshot is not None,
                "clip": view.clip_link is not None,
            },
        )

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
