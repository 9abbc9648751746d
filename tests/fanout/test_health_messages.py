"""Camera health in Slack: the watchdog's own event, names and the site's local time, and a
flapping camera that gives one message per state and window, not one per flap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from facewatch.alerts.fanout import BusEnvelope, Outcome
from facewatch.alerts.slack.messages import CameraHealthNotice, health_message
from facewatch.alerts.slack.notifier import NoSnapshots, SlackAdapters, SlackNotifier
from facewatch.alerts.slack.webhooks import WebhookRoutes
from facewatch.alerts.view import ClipLinks
from facewatch.fleet.health import (
    CameraHealth,
    CameraHealthChanged,
    Overall,
    RecognitionState,
    VideoState,
)
from tests.fanout.builders import InMemoryOnce, envelope

pytestmark = pytest.mark.usefixtures("no_network")
AT = datetime(2026, 11, 18, 5, 10, tzinfo=UTC)
ONLINE = CameraHealth(
    video=VideoState.ONLINE,
    recognition=RecognitionState.RUNNING,
    status=Overall.HEALTHY,
    reason="streaming",
)
OFFLINE = CameraHealth(
    video=VideoState.OFFLINE,
    recognition=RecognitionState.RUNNING,
    status=Overall.DOWN,
    reason="No fragment for 15 min",
)


def fleet_event(at: datetime, current: CameraHealth, previous: CameraHealth) -> dict[str, object]:
    """The detail exactly as the watchdog publishes it (CameraHealthChanged.put_events_entry)."""
    change = CameraHealthChanged(
        camera_id="seoul-hq-dock-01",
        site_id="seoul-hq",
        site_name="Seoul HQ",
        zone="Loading dock",
        display_name="Dock door",
        time_zone="Asia/Seoul",
        changed_at=at.isoformat().replace("+00:00", "Z"),
        previous=previous,
        current=current,
    )
    import json  # noqa: PLC0415

    detail: dict[str, object] = json.loads(change.put_events_entry("bus")["Detail"])
    return detail


def test_the_watchdogs_event_reads_with_names_and_local_time() -> None:
    notice = CameraHealthNotice.model_validate(fleet_event(AT, OFFLINE, ONLINE))
    message = health_message(notice)
    assert message.blocks[0]["text"]["text"] == "📷 Camera down: Seoul HQ / Dock door"
    text = str(message.blocks)
    assert "14:10:00 KST" in text and "HEALTHY → DOWN" in text and "Dock door" in text
    assert (
        message.text
        == "Camera Seoul HQ / Dock door is DOWN since 14:10 KST: No fragment for 15 min"
    )


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def post(self, url: str, message: object, route: str) -> None:
        self.texts.append(getattr(message, "text", ""))


def test_a_flapping_camera_gives_one_message_per_state_and_window() -> None:
    sender = Recorder()
    notifier = SlackNotifier(
        SlackAdapters(
            routes=WebhookRoutes(lambda: {"ops": "https://hooks.slack.com/services/T/B/ops"}),
            sender=sender,
            once=InMemoryOnce(),
            clip_links=ClipLinks(),
            snapshots=NoSnapshots(),
        )
    )
    outcomes = []
    for minute in range(0, 30, 1):  # down, up, down, up ... every minute for half an hour
        at = AT.replace(minute=0) + timedelta(minutes=minute)
        current, previous = (OFFLINE, ONLINE) if minute % 2 == 0 else (ONLINE, OFFLINE)
        detail = fleet_event(at, current, previous)
        outcomes.append(
            notifier.deliver(BusEnvelope.model_validate(envelope(detail, "Camera Health Changed")))
        )
    # 30 flaps in two 15-minute windows: a "down" and an "up" message in each
    assert outcomes.count(Outcome.SENT) == 4 and len(sender.texts) == 4
    assert sum("is DOWN" in t for t in sender.texts) == 2
