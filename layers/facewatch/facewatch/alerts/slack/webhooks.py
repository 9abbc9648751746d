"""Posting to Slack incoming webhooks: per-site routes, slack_sdk retries, pacing.

Routes: one Secrets Manager secret holding JSON ``{"default": url, "<site id>": url, "ops": url}``
(read through Powertools parameters, cached). Webhook URLs are credentials: never logged.

Delivery: slack_sdk's WebhookClient with its retry handlers for 429 (honouring Retry-After),
5xx and connection errors. The handlers here only swap ``time.sleep`` for an injected sleep (tests
run on a virtual clock) and refuse to wait out a Retry-After longer than the function should
sleep: that message then fails, goes back to the queue and is tried again later.
Pacing: posts to one webhook are spaced ``min_interval`` apart (Slack takes ~1 a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from facewatch.alerts.slack.messages import SlackMessage
from facewatch.observability import logger

DEFAULT_ROUTE = "default"
OPS_ROUTE = "ops"


class WebhookConfigError(RuntimeError):
    """The webhook secret is not usable (not JSON, no route for this message)."""


class SlackDeliveryError(RuntimeError):
    """Slack did not accept the message after the retries; the message is redelivered."""


class WebhookRoutes:
    """``secret()`` returns the parsed secret (Powertools caches it for max_age seconds)."""

    def __init__(self, secret: Callable[[], Any]) -> None:
        self._secret = secret

    def url_for(self, keys: Sequence[str]) -> tuple[str, str]:
        """The first of ``keys`` (then "default") that has a URL: (route, url)."""
        try:
            routes = self._secret()
        except Exception as exc:
            raise WebhookConfigError(
                f"Slack webhook secret unreadable ({type(exc).__name__}); it must be JSON "
                '{"default": "https://hooks.slack.com/services/...", "<site id>": "..."}'
            ) from exc
        if not isinstance(routes, Mapping):
            raise WebhookConfigError("Slack webhook secret must be a JSON object of route: url")
        for key in [*keys, DEFAULT_ROUTE]:
            url = routes.get(key)
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                return key, url
        raise WebhookConfigError(f"no Slack webhook for routes {[*keys, DEFAULT_ROUTE]}")


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                break
    return 1.0


class _SleepingHandler(RetryHandler):
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        self.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class PacedRateLimitHandler(RateLimitErrorRetryHandler):
    """429: wait Retry-After (if not longer than ``max_wait``), then try again."""

    def __init__(
        self, max_retry_count: int, sleep: Callable[[float], None], max_wait: float
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep
        self._max_wait = max_wait
        self.waits: list[float] = []

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and _retry_after(response) <= self._max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None  # _can_retry only accepts responses
        state.next_attempt_requested = True
        wait = _retry_after(response)
        self.waits.append(wait)
        self._sleep(wait)
        state.increment_current_attempt()


class ServerErrors(_SleepingHandler, ServerErrorRetryHandler):
    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


class ConnectionErrors(_SleepingHandler, ConnectionErrorRetryHandler):
    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        # A read timeout surfaces as TimeoutError (not a URLError): retry it as well.
        return isinstance(error, TimeoutError) or super()._can_retry(
            state=state, request=request, response=response, error=error
        )


def retry_handlers(
    sleep: Callable[[float], None],
    *,
    rate_limit_retries: int,
    max_retry_after: float,
    error_retries: int,
    backoff: float,
) -> tuple[PacedRateLimitHandler, list[RetryHandler]]:
    """slack_sdk's handlers for 429 (Retry-After), 5xx and connection errors, on ``sleep``;
    shared by the webhook poster and the Web API client."""
    rate_limit = PacedRateLimitHandler(rate_limit_retries, sleep, max_retry_after)
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff)
    server = ServerErrors(max_retry_count=error_retries, interval_calculator=interval)
    connection = ConnectionErrors(max_retry_count=error_retries, interval_calculator=interval)
    server.sleep = connection.sleep = sleep
    return rate_limit, [connection, rate_limit, server]


class Pacer:
    """At most one call per key (a webhook, a channel) per interval: Slack's 1/s per channel."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self._sleep = sleep
        self._clock = clock
        self._last: dict[str, float] = {}

    def wait(self, key: str, interval: float) -> None:
        last = self._last.get(key)
        if last is not None:
            wait = last + interval - self._clock()
            if wait > 0:
                self._sleep(wait)

    def done(self, key: str) -> None:
        self._last[key] = self._clock()


class SlackPoster:
    def __init__(
        self,
        *,
        timeout: float = 5,
        min_interval: float = 1.0,
        rate_limit_retries: int = 5,
        max_retry_after: float = 20.0,
        error_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._min_interval = min_interval
        self.rate_limit, self._handlers = retry_handlers(
            sleep,
            rate_limit_retries=rate_limit_retries,
            max_retry_after=max_retry_after,
            error_retries=error_retries,
            backoff=backoff,
        )
        self._clients: dict[str, WebhookClient] = {}
        self._pacer = Pacer(sleep, clock)

    def _client(self, url: str) -> WebhookClient:
        client = self._clients.get(url)
        if client is None:
            # urllib takes a float timeout although slack_sdk annotates int.
            client = WebhookClient(url, timeout=self._timeout, retry_handlers=self._handlers)  # type: ignore[arg-type]
            self._clients[url] = client
        return client

    def post(self, url: str, message: SlackMessage, route: str) -> None:
        self._pacer.wait(url, self._min_interval)
        client = self._client(url)
        try:
            response = client.send(text=message.text, blocks=message.blocks)
            if response.status_code == 400 and message.blocks:
                # Slack refused the blocks (invalid_blocks): the alert still goes out as text.
                logger.error(
                    "Slack refused the blocks; sending text only",
                    extra={"route": route, "body": response.body[:200]},
                )
                response = client.send(text=message.text)
        except Exception as exc:
            raise SlackDeliveryError(f"route {route}: {type(exc).__name__} after retries") from exc
        finally:
            self._pacer.done(url)
        if response.status_code != 200:
            raise SlackDeliveryError(
                f"route {route}: HTTP {response.status_code} {response.body[:200]!r}"
            )
