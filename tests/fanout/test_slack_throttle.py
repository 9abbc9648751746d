"""Throttling of chat.update on an injected clock: a property test against the definition
(at most one update per message per interval; the latest state always reaches Slack)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.slack.app import PostedMessage
from facewatch.alerts.slack.messages import SlackMessage
from facewatch.alerts.slack.threads import IncidentMessage, SlackThreads, ThreadSettings
from tests.fanout.builders import alert_detail

INTERVAL = 10.0
ALERT = AlertDetail.model_validate(alert_detail())
T0 = ALERT.first_seen.timestamp()


@dataclass
class MemoryStore:
    """Fake of threads.MessageStore (our interface), with the same conditional semantics."""

    message: IncidentMessage
    updated_at: float | None = None

    def load(self, incident_id: str) -> IncidentMessage | None:
        return self.message

    def record_post(self, *args: object) -> bool:
        return True

    def claim_update(self, incident_id: str, now: float, min_interval: float) -> bool:
        if self.updated_at is not None and self.updated_at > now - min_interval:
            return False
        self.updated_at = now
        return True

    def record_digest(self, incident_id: str, digest: str) -> None:
        self.message = replace(self.message, digest=digest)

    def note_once(self, incident_id: str, note: str) -> bool:
        if note in self.message.notes:
            return False
        self.message = replace(self.message, notes=self.message.notes | {note})
        return True

    def open_incidents(self, since: float) -> Iterator[str]:
        yield self.message.incident_id


@dataclass
class RecordingApi:
    now: list[float]
    updates: list[tuple[float, SlackMessage]] = field(default_factory=list)

    def post(
        self, token: str, channel: str, message: SlackMessage, thread_ts: str | None = None
    ) -> PostedMessage:
        return PostedMessage(channel, "1.1")

    def update(self, token: str, posted: PostedMessage, message: SlackMessage) -> None:
        self.updates.append((self.now[0], message))


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.1, max_value=25), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None, derandomize=True)
def test_at_most_one_update_per_interval_and_nothing_lost(steps: list[tuple[float, int]]) -> None:
    now = [T0]
    message = IncidentMessage(
        incident_id=ALERT.incident_id,
        posted=PostedMessage("C1", "1.1"),
        alert=ALERT,
        snapshot_url=None,
        detections=ALERT.detections,
        last_seen=ALERT.last_seen,
        status="open",
        changed_by=None,
        merged_into=None,
        digest=None,
        notes=frozenset(),
    )
    store = MemoryStore(message)
    api = RecordingApi(now)
    threads = SlackThreads(
        store, api, lambda: "xoxb-t", ThreadSettings(INTERVAL, window_seconds=1e9), lambda a: None
    )
    for gap, growth in steps:
        now[0] += gap
        current = store.message
        store.message = replace(
            current,
            detections=current.detections + growth,
            last_seen=current.last_seen + timedelta(seconds=gap if growth else 0),
        )
        threads.reconcile(message.incident_id, now[0])
    times = [at for at, _ in api.updates]
    assert all(later - earlier >= INTERVAL for earlier, later in itertools.pairwise(times))
    now[0] += INTERVAL  # one more reconcile (the ticker's) after the interval
    threads.reconcile(message.incident_id, now[0])
    latest = threads.render(store.message, now[0])
    assert api.updates and api.updates[-1][1] == latest
