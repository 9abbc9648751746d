"""A tour group: 50 incidents at one site in one burst, against a rate-limited local webhook.

The webhook answers 429 Retry-After: 1 to more than one message a second (on a virtual clock
shared with the notifier, so the test does not wait). Nothing may be lost or sent twice.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from facewatch.alerts.fanout import run_notifier_batch
from facewatch.alerts.slack.notifier import NoSnapshots, SlackAdapters, SlackNotifier
from facewatch.alerts.slack.webhooks import SlackPoster, WebhookRoutes
from facewatch.alerts.view import ClipLinks
from tests.fakes import FakeMetrics
from tests.fanout.builders import FakeContext, InMemoryOnce, alert_detail, envelope, sqs_event
from tests.fanout.webhook_server import LocalWebhook, VirtualClock

pytestmark = pytest.mark.integration

BURST = 50
BATCH_SIZE = 10  # the ESM's BatchSize


def incidents() -> list[dict[str, Any]]:
    return [envelope(alert_detail(f"INC-TOUR{n:08d}")) for n in range(BURST)]


def notifier(url: str, clock: VirtualClock, once: InMemoryOnce) -> SlackNotifier:
    return SlackNotifier(
        SlackAdapters(
            routes=WebhookRoutes(lambda: {"default": url}),
            sender=SlackPoster(timeout=2, sleep=clock.sleep, clock=clock.time),
            once=once,
            clip_links=ClipLinks(),
            snapshots=NoSnapshots(),
        )
    )


def run(channel: SlackNotifier, events: list[dict[str, Any]]) -> list[dict[str, str]]:
    processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    response = run_notifier_batch(
        sqs_event(events),
        FakeContext(),
        channel,
        processor,
        reserve_seconds=10,
        metrics=FakeMetrics(),
    )
    return [{"itemIdentifier": str(f["itemIdentifier"])} for f in response["batchItemFailures"]]


def delivered_ids(webhook: LocalWebhook) -> list[str]:
    return [
        next(b for b in p["blocks"] if b["type"] == "actions")["elements"][-1]["value"]
        for p in webhook.accepted()
    ]


def test_one_paced_poller_delivers_all_fifty_without_a_single_429() -> None:
    clock = VirtualClock()
    with LocalWebhook(clock).running() as webhook:
        channel = notifier(webhook.url("T0/B0/tour"), clock, InMemoryOnce())
        start = clock.now
        events = incidents()
        for first in range(0, BURST, BATCH_SIZE):
            assert run(channel, events[first : first + BATCH_SIZE]) == []
    assert sorted(delivered_ids(webhook)) == sorted(e["detail"]["incidentId"] for e in events)
    assert [p.status for p in webhook.posts].count(429) == 0
    # Paced at one a second: the fiftieth alert is out 49 s after the first.
    assert clock.now - start == pytest.approx(49, abs=0.5)


def test_two_concurrent_pollers_collide_and_lose_nothing() -> None:
    """MaximumConcurrency 2: two notifier instances share the webhook's one-a-second budget."""
    clock = VirtualClock()
    once = InMemoryOnce()  # stands for the shared idempotency table
    with LocalWebhook(clock).running() as webhook:
        url = webhook.url("T0/B0/tour")
        pollers = [notifier(url, clock, once), notifier(url, clock, once)]
        events = incidents()
        failures: list[dict[str, str]] = []
        for index, first in enumerate(range(0, BURST, BATCH_SIZE)):
            failures += run(pollers[index % 2], events[first : first + BATCH_SIZE])
        assert failures == []
        # And interleaved message by message.
        again = [envelope(alert_detail(f"INC-LATE{n:08d}")) for n in range(10)]
        for n, event in enumerate(again):
            assert run(pollers[n % 2], [event]) == []
    statuses = [p.status for p in webhook.posts]
    assert statuses.count(429) > 0  # they did collide...
    ids = delivered_ids(webhook)
    assert len(ids) == len(set(ids)) == BURST + 10  # ...and every alert arrived exactly once


def test_redelivered_burst_sends_nothing_twice() -> None:
    clock = VirtualClock()
    once = InMemoryOnce()
    with LocalWebhook(clock).running() as webhook:
        channel = notifier(webhook.url("T0/B0/tour"), clock, once)
        events = incidents()[:10]
        assert run(channel, events) == []
        assert run(channel, events) == []  # SQS redelivery / DLQ replay of the same events
    assert len(webhook.accepted()) == 10
