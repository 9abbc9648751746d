"""What an operator needs to read from an alert, in display form; shared by SMS and Slack.

Pure: location, local time, duration and the clip link are worked out here once, and each
channel only lays them out. Without a registry entry the camera id is shown and UTC is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from facewatch.alerts.event import AlertDetail, ClosestEmployee
from facewatch.clips.links import sign_clip_link
from facewatch.observability import logger


@dataclass(frozen=True, slots=True)
class AlertView:
    incident_id: str
    camera_id: str
    camera: str  # display name, or the camera id when the camera is not in the registry
    site: str | None
    site_id: str | None
    zone: str | None
    started: datetime  # first detection, in the site's time zone
    zone_label: str  # "KST", "CET", "UTC"
    duration: timedelta
    detections: int
    confidence: float
    closest: ClosestEmployee | None
    clip_link: str | None
    snapshot_url: str | None = None
    hint: str | None = None  # a possible incident: "possible EMP-10442 (84%)", low priority

    @property
    def place(self) -> str:
        """ "Seoul HQ / Lobby entrance" or the camera id alone."""
        return f"{self.site} / {self.camera}" if self.site else self.camera


def site_time(at: datetime, time_zone: str) -> tuple[datetime, str]:
    """``at`` in the site's zone and the zone's abbreviation; UTC if the zone is unknown here."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = at.astimezone(zone)
    return local, local.tzname() or time_zone


def format_duration(duration: timedelta) -> str:
    seconds = max(0, round(duration.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ClipLinks:
    """A signed facewatch link (lasts ``ttl_days`` from the incident) where one is configured;
    otherwise the short-lived KVS URL carried by the alert; None when the alert has no clip."""

    def __init__(
        self,
        base_url: str | None = None,
        key: Callable[[], bytes] | None = None,
        ttl_days: int = 30,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url
        self._key = key
        self._ttl = timedelta(days=ttl_days)
        self._now = now

    def link_for(self, detail: AlertDetail) -> str | None:
        if self._base_url and self._key:
            # Expiry from the incident's own time: every retry of one alert makes the same link.
            # Never from a time still to come: a forged firstSeen of 2099 must not outlive TTL.
            start = min(detail.first_seen.timestamp(), self._now())
            expires = int(start + self._ttl.total_seconds())
            try:
                key = self._key()
            except Exception as exc:
                # An alert with the short-lived KVS link beats no alert (or a late one).
                logger.error(
                    "clip link key unavailable; using the alert's clip URL",
                    extra={"incident_id": detail.incident_id, "error": type(exc).__name__},
                )
            else:
                return sign_clip_link(self._base_url, detail.incident_id, expires, key)
        return detail.clip.url if detail.clip else None


def alert_view(
    detail: AlertDetail, clip_link: str | None, snapshot_url: str | None = None
) -> AlertView:
    location = detail.location
    first_seen = detail.first_seen
    if first_seen.tzinfo is None:
        first_seen = first_seen.replace(tzinfo=UTC)
    started, zone_label = site_time(first_seen, location.time_zone if location else "UTC")
    return AlertView(
        incident_id=detail.incident_id,
        camera_id=detail.camera_id,
        camera=(location.display_name if location and location.display_name else detail.camera_id),
        site=(location.site_name or location.site_id) if location else None,
        site_id=location.site_id if location else None,
        zone=location.zone if location else None,
        started=started,
        zone_label=zone_label,
        duration=detail.last_seen - detail.first_seen,
        detections=detail.detections,
        confidence=detail.best_face.confidence,
        closest=detail.closest_employee,
        clip_link=clip_link,
        snapshot_url=snapshot_url,
        hint=detail.hint,
    )
