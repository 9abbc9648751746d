"""slack_sdk WebhookClient with our retry handlers against a webhook on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from facewatch.alerts.slack.messages import SlackMessage
from facewatch.alerts.slack.webhooks import (
    SlackDeliveryError,
    SlackPoster,
    WebhookConfigError,
    WebhookRoutes,
)
from tests.fanout.webhook_server import Answer, LocalWebhook, VirtualClock

pytestmark = pytest.mark.integration

MESSAGE = SlackMessage(
    text="Unknown face at Seoul HQ / Lobby entrance",
    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Unknown face*"}}],
)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def webhook() -> Iterator[LocalWebhook]:
    with LocalWebhook().running() as server:
        yield server


def poster(clock: VirtualClock, **kwargs: float) -> SlackPoster:
    options: dict[str, float] = {"timeout": 1, "backoff": 0.5} | kwargs
    return SlackPoster(
        timeout=int(options.pop("timeout")),
        sleep=clock.sleep,
        clock=clock.time,
        **options,  # type: ignore[arg-type]
    )


def test_server_errors_are_retried(webhook: LocalWebhook, clock: VirtualClock) -> None:
    webhook.script("a", Answer(500, "boom"), Answer(503, "busy"))
    poster(clock).post(webhook.url("a"), MESSAGE, "default")
    assert [p.status for p in webhook.posts] == [500, 503, 200]
    # Backoff (with jitter) between attempts, slept on the injected clock.
    assert len(clock.slept) == 2 and all(0.5 <= s <= 3 for s in clock.slept)


def test_server_errors_beyond_the_retries_fail_the_message(
    webhook: LocalWebhook, clock: VirtualClock
) -> None:
    webhook.script("a", *[Answer(500, "boom")] * 3)
    with pytest.raises(SlackDeliveryError, match="HTTP 500"):
        poster(clock).post(webhook.url("a"), MESSAGE, "default")
    assert len(webhook.posts) == 3  # first try + 2 retries


def test_429_waits_retry_after_then_succeeds(webhook: LocalWebhook, clock: VirtualClock) -> None:
    webhook.script("a", Answer(429, "rate_limited", {"Retry-After": "1"}))
    sender = poster(clock)
    sender.post(webhook.url("a"), MESSAGE, "default")
    assert [p.status for p in webhook.posts] == [429, 200]
    assert sender.rate_limit.waits == [1.0]
    assert clock.slept == [1.0]


def test_long_retry_after_is_not_waited_out_in_the_function(
    webhook: LocalWebhook, clock: VirtualClock
) -> None:
    webhook.script("a", Answer(429, "rate_limited", {"Retry-After": "120"}))
    with pytest.raises(SlackDeliveryError, match="HTTP 429"):
        poster(clock, max_retry_after=20).post(webhook.url("a"), MESSAGE, "default")
    assert clock.slept == []  # back to the queue; SQS redelivers it later


def test_a_hung_webhook_times_out_and_is_retried(
    webhook: LocalWebhook, clock: VirtualClock
) -> None:
    webhook.script("a", Answer(hang=True))
    started = time.monotonic()
    SlackPoster(timeout=0.2, sleep=clock.sleep, clock=clock.time, backoff=0.01).post(
        webhook.url("a"), MESSAGE, "default"
    )
    assert time.monotonic() - started < 2
    assert [p.status for p in webhook.posts] == [200]


def test_invalid_blocks_fall_back_to_text(webhook: LocalWebhook, clock: VirtualClock) -> None:
    webhook.script("a", Answer(400, "invalid_blocks"))
    poster(clock).post(webhook.url("a"), MESSAGE, "default")
    assert webhook.posts[1].payload == {"text": MESSAGE.text}


def test_unreachable_webhook_fails_after_connection_retries(clock: VirtualClock) -> None:
    server = LocalWebhook()
    url = server.url("a")
    with server.running():
        pass  # closed again: nothing listens on the port any more
    with pytest.raises(SlackDeliveryError, match="after retries"):
        poster(clock, backoff=0.01).post(url, MESSAGE, "default")
    assert len(clock.slept) == 2


def test_posts_to_one_webhook_are_paced(webhook: LocalWebhook, clock: VirtualClock) -> None:
    sender = poster(clock, min_interval=1.0)
    for _ in range(3):
        sender.post(webhook.url("a"), MESSAGE, "default")
    sender.post(webhook.url("b"), MESSAGE, "default")  # another webhook: no wait
    assert clock.slept == [1.0, 1.0]


# ---- routing -----------------------------------------------------------------------------------
ROUTES = {
    "default": "https://hooks.example.com/default",
    "seoul-hq": "https://hooks.example.com/seoul",
    "ops": "https://hooks.example.com/ops",
}


def test_site_route_then_default() -> None:
    routes = WebhookRoutes(lambda: ROUTES)
    assert routes.url_for(["seoul-hq"]) == ("seoul-hq", ROUTES["seoul-hq"])
    assert routes.url_for(["berlin"]) == ("default", ROUTES["default"])
    assert routes.url_for([]) == ("default", ROUTES["default"])
    assert routes.url_for(["ops"]) == ("ops", ROUTES["ops"])


def test_empty_route_falls_back_and_missing_default_is_an_error() -> None:
    assert WebhookRoutes(lambda: {**ROUTES, "seoul-hq": ""}).url_for(["seoul-hq"])[0] == "default"
    with pytest.raises(WebhookConfigError, match="no Slack webhook"):
        WebhookRoutes(lambda: {"seoul-hq": ROUTES["seoul-hq"]}).url_for(["berlin"])


def test_unreadable_secret_names_the_expected_shape() -> None:
    def broken() -> dict[str, str]:
        raise ValueError("Expecting value: line 1 column 1")

    with pytest.raises(WebhookConfigError, match="must be JSON"):
        WebhookRoutes(broken).url_for([])
    with pytest.raises(WebhookConfigError, match="JSON object"):
        WebhookRoutes(lambda: ["https://x"]).url_for([])
