"""Finding 8: user-supplied text never renders as Slack markup (mentions, links) in a message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from facewatch.alerts.slack.messages import escape
from facewatch.audit.history import IncidentRecord, StatusChange
from facewatch.audit.lifecycle import Actor
from facewatch.audit.slack_actions import status_line

AT = datetime(2026, 3, 1, tzinfo=UTC)
HOSTILE = ["<!channel>", "<https://evil.example|open the clip>", "<@U0BOSS>", "<!here> & co"]


def _change(changed_by: str, *, applied: bool) -> StatusChange:
    record = IncidentRecord(
        incident_id="inc-1",
        camera_id="hq-lobby",
        site_id="hq",
        stream_arn="arn:aws:kinesisvideo:ap-northeast-2:123456789012:stream/hq-lobby/1",
        first_seen=AT,
        last_seen=AT,
        detections=3,
        status="acknowledged",
        status_changed_at=AT,
        status_changed_by=changed_by,
    )
    return StatusChange(applied=applied, previous="open", incident=record)


@pytest.mark.parametrize("name", HOSTILE)
def test_status_changed_by_is_escaped(name: str) -> None:
    line = status_line(_change(name, applied=False), Actor(id="U0AUDIT01", channel="slack"))
    assert "<" not in line and ">" not in line
    assert escape(name) in line


@pytest.mark.parametrize("user_id", HOSTILE)
def test_only_a_real_slack_user_id_becomes_a_mention(user_id: str) -> None:
    line = status_line(_change("x", applied=True), Actor(id=user_id, channel="slack"))
    assert "<" not in line
    ok = status_line(_change("x", applied=True), Actor(id="U0AUDIT01", channel="slack"))
    assert "<@U0AUDIT01>" in ok
