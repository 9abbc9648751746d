"""One Slack message per visit, in every state it can be in: Block Kit golden files."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.slack.messages import ACKNOWLEDGE, ESCALATE, Lifecycle, alert_message
from facewatch.alerts.view import ClipLinks, alert_view
from tests.fanout.builders import SEOUL, alert_detail
from tests.fanout.goldens import golden

pytestmark = pytest.mark.usefixtures("no_network")

LINKS = ClipLinks("https://fw.acme.io", lambda: b"test-signing-key", ttl_days=30)
STATES: dict[str, tuple[dict[str, Any], Lifecycle]] = {
    "new": ({}, Lifecycle()),
    "growing": (
        {"detections": 24, "lastSeen": "2026-11-18T05:05:40.400Z"},
        Lifecycle(),
    ),
    "merged": ({"detections": 7}, Lifecycle(merged_into="INC-2B7MK9Q4XW1C")),
    "acknowledged": ({"detections": 9}, Lifecycle("acknowledged", changed_by="U024BE7LH")),
    "false_alarm": ({"detections": 9}, Lifecycle("false_alarm", changed_by="jkim@cli")),
    "escalated": (
        {"detections": 12},
        Lifecycle("escalated", changed_by="facewatch", escalated_after_minutes=5),
    ),
    "ended": (
        {"detections": 31, "lastSeen": "2026-11-18T05:06:12.400Z"},
        Lifecycle("acknowledged", changed_by="U024BE7LH", ended_after=timedelta(minutes=3)),
    ),
}


def render(overrides: dict[str, Any], state: Lifecycle, **view: Any) -> dict[str, Any]:
    detail = AlertDetail.model_validate({**alert_detail(), **overrides})
    message = alert_message(alert_view(detail, LINKS.link_for(detail), **view), state)
    return {"text": message.text, "blocks": message.blocks}


def texts(message: dict[str, Any]) -> str:
    return str(message["blocks"]) + str(message["text"])


def buttons(message: dict[str, Any]) -> set[str]:
    return {
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    }


@pytest.mark.parametrize("name", list(STATES))
def test_state_golden_and_valid_block_kit(name: str) -> None:
    overrides, state = STATES[name]
    message = render(overrides, state)
    golden(f"state_{name}", message)
    parsed = Block.parse_all(message["blocks"])
    assert [block.to_dict() for block in parsed] == message["blocks"]  # slack_sdk validates


def test_growing_message_shows_the_count_and_last_seen() -> None:
    message = render(*STATES["growing"])
    assert "24 frames with an unknown face over 2 min 28 s" in texts(message)
    assert "14:05:40 KST" in texts(message)
    assert "(24 detections, incident INC-7Q2KX4MZ3B1A)" in message["text"]


def test_buttons_stay_only_while_someone_must_act() -> None:
    assert {ACKNOWLEDGE, ESCALATE} <= buttons(render(*STATES["new"]))
    assert ESCALATE not in buttons(render(*STATES["escalated"]))
    assert ACKNOWLEDGE in buttons(render(*STATES["escalated"]))
    for name in ("merged", "acknowledged", "false_alarm", "ended"):
        assert buttons(render(*STATES[name])) == {"incident_open_clip"}, name


def test_each_state_says_what_happened() -> None:
    assert "Merged* into `INC-2B7MK9Q4XW1C`" in texts(render(*STATES["merged"]))
    assert "Acknowledged* by <@U024BE7LH>" in texts(render(*STATES["acknowledged"]))
    assert "False alarm* by jkim@cli" in texts(render(*STATES["false_alarm"]))
    assert "no answer within 5 min" in texts(render(*STATES["escalated"]))
    assert "Visit ended after 3 min" in texts(render(*STATES["ended"]))


def test_mentions_follow_severity_and_stop_once_handled() -> None:
    high = render({}, Lifecycle())
    assert "<!here> high severity" in texts(high)
    low = render({"location": {**SEOUL, "severity": "low"}}, Lifecycle())
    assert "<!here>" not in texts(low) and "low severity" in texts(low)
    assert "<!here>" not in texts(render(*STATES["acknowledged"]))


def test_match_wording_says_what_each_number_means() -> None:
    possible = texts(render({}, Lifecycle()))
    assert "face found (100%)" in possible and "possible: EMP-10442 (72%)" in possible
    stranger = texts(render({"closestEmployee": None}, Lifecycle(), match_threshold=90))
    assert "no employee match &gt;= 90%" in stranger
