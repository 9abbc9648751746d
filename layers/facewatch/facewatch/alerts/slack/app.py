"""Slack app mode: a bot token posts with chat.postMessage and keeps the message up to date.

The app secret (Secrets Manager, JSON) names the bot token and a channel per route:
``{"botToken": "xoxb-...", "channels": {"default": "C0..", "<site id>": "C0..", "ops": "C0.."}}``.
An empty ``botToken`` (the template's placeholder) means webhook mode: incoming webhooks, one
message per incident, never updated. The token is a credential: never logged.

Delivery goes through slack_sdk's WebClient with the same retry handlers as the webhooks (429
honouring Retry-After up to a bound, 5xx, connection errors), and stays inside Slack's tiers:
chat.postMessage about one a second per channel; chat.update is Tier 3 (50+ a minute), paced to
one every ``update_interval`` seconds per container (two notifier containers at most).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from facewatch.alerts.slack.messages import SlackMessage
from facewatch.alerts.slack.webhooks import (
    DEFAULT_ROUTE,
    Pacer,
    SlackDeliveryError,
    WebhookConfigError,
    retry_handlers,
)
from facewatch.observability import logger

SLACK_API = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class PostedMessage:
    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class SlackAppConfig:
    bot_token: str
    channels: Mapping[str, str]

    @classmethod
    def from_secret(cls, value: Any) -> SlackAppConfig | None:
        """None when no bot token is set (webhook mode)."""
        if not isinstance(value, Mapping):
            raise WebhookConfigError('Slack app secret must be JSON {"botToken": ..., "channels"}')
        token = value.get("botToken") or ""
        if not token:
            return None
        channels = value.get("channels")
        if not isinstance(token, str) or not token.startswith("xox"):
            raise WebhookConfigError("Slack app secret: botToken is not a Slack token (xoxb-...)")
        if not isinstance(channels, Mapping) or not channels:
            raise WebhookConfigError("Slack app secret: channels must map routes to channel ids")
        return cls(token, {str(k): str(v) for k, v in channels.items() if v})

    def channel_for(self, keys: Sequence[str]) -> tuple[str, str]:
        """The first of ``keys`` (then "default") that has a channel: (route, channel id)."""
        for key in [*keys, DEFAULT_ROUTE]:
            channel = self.channels.get(key)
            if channel:
                return key, channel
        raise WebhookConfigError(f"no Slack channel for routes {[*keys, DEFAULT_ROUTE]}")


class SlackWebApi:
    """chat.postMessage and chat.update through one WebClient (per token)."""

    def __init__(
        self,
        *,
        base_url: str = SLACK_API,
        timeout: float = 5,
        post_interval: float = 1.0,
        update_interval: float = 1.2,
        rate_limit_retries: int = 5,
        max_retry_after: float = 20.0,
        error_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._post_interval = post_interval
        self._update_interval = update_interval
        self.rate_limit, self._handlers = retry_handlers(
            sleep,
            rate_limit_retries=rate_limit_retries,
            max_retry_after=max_retry_after,
            error_retries=error_retries,
            backoff=backoff,
        )
        self._clients: dict[str, WebClient] = {}
        self._pacer = Pacer(sleep, clock)

    def _client(self, token: str) -> WebClient:
        client = self._clients.get(token)
        if client is None:
            client = WebClient(
                token=token,
                base_url=self._base_url,
                timeout=self._timeout,  # type: ignore[arg-type]  # urllib takes a float
                retry_handlers=self._handlers,
            )
            self._clients[token] = client
        return client

    def _call(self, method: str, key: str, interval: float, send: Callable[[], Any]) -> Any:
        self._pacer.wait(key, interval)
        try:
            return send()
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown") if exc.response else "unknown"
            raise SlackDeliveryError(f"{method}: {error}") from exc
        except Exception as exc:
            raise SlackDeliveryError(f"{method}: {type(exc).__name__} after retries") from exc
        finally:
            self._pacer.done(key)

    def post(
        self, token: str, channel: str, message: SlackMessage, thread_ts: str | None = None
    ) -> PostedMessage:
        client = self._client(token)

        def send() -> Any:
            try:
                return client.chat_postMessage(
                    channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts
                )
            except SlackApiError as exc:
                if exc.response.get("error") != "invalid_blocks" or not message.blocks:
                    raise
                # Slack refused the blocks: the alert still goes out as text.
                logger.error("Slack refused the blocks; sending text only")
                return client.chat_postMessage(
                    channel=channel, text=message.text, thread_ts=thread_ts
                )

        response = self._call("chat.postMessage", f"post:{channel}", self._post_interval, send)
        return PostedMessage(str(response["channel"]), str(response["ts"]))

    def update(self, token: str, posted: PostedMessage, message: SlackMessage) -> None:
        client = self._client(token)
        self._call(
            "chat.update",
            "update",
            self._update_interval,
            lambda: client.chat_update(
                channel=posted.channel, ts=posted.ts, text=message.text, blocks=message.blocks
            ),
        )
