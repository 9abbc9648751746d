"""Publishing on the facewatch EventBridge bus: chunks of 10, resending only failed entries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from facewatch.alerts.event import SOURCE

MAX_ENTRIES_PER_CALL = 10


@dataclass(frozen=True, slots=True)
class BusEvent:
    detail_type: str
    detail: BaseModel
    key: str  # what a failure is reported against (an incident id, a camera id)


@dataclass(frozen=True, slots=True)
class PublishFailure:
    event: BusEvent
    reason: str


class EventPublisher(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        """Publish all events; return those that still failed after retries."""
        ...


class EventBridgePublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        attempts: int = 4,
        base_delay: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep

    def _entry(self, event: BusEvent) -> dict[str, str]:
        detail = event.detail.model_dump(mode="json", by_alias=True, exclude_none=False)
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self._bus_name,
        }

    def publish(self, events: Sequence[BusEvent]) -> list[PublishFailure]:
        failures: list[PublishFailure] = []
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            failures += self._publish_chunk(list(events[start : start + MAX_ENTRIES_PER_CALL]))
        return failures

    def _publish_chunk(self, pending: list[BusEvent]) -> list[PublishFailure]:
        reasons: dict[int, str] = {}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._base_delay * 2 ** (attempt - 1))
            try:
                response = self._client.put_events(Entries=[self._entry(e) for e in pending])
            except Exception as exc:
                reasons = {id(e): f"{type(exc).__name__}: {exc}" for e in pending}
                continue
            if not response.get("FailedEntryCount"):
                return []
            retry: list[BusEvent] = []
            for event, result in zip(pending, response["Entries"], strict=True):
                if "ErrorCode" in result:
                    retry.append(event)
                    reasons[id(event)] = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
            pending = retry
        return [PublishFailure(e, reasons.get(id(e), "unknown")) for e in pending]
