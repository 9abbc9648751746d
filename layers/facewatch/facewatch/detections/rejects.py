"""Rejected records: malformed input kept for replay in an SQS queue, with the reason.

The reason names what was wrong (which field, which error type) but never the values: a
record's values are face data.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from facewatch.observability import logger

# SQS takes 256 KiB a message; keep room for the envelope. Larger records are kept by reference
# (shard and sequence number) and can be read again from the stream within its retention.
MAX_INLINE_DATA = 200_000
MAX_BATCH = 10


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    reason: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrival_time: float | None
    data_base64: str
    event_source_arn: str

    def message(self) -> str:
        body: dict[str, Any] = {
            "reason": self.reason,
            "shardId": self.shard_id,
            "sequenceNumber": self.sequence_number,
            "partitionKey": self.partition_key,
            "approximateArrivalTimestamp": self.arrival_time,
            "eventSourceArn": self.event_source_arn,
        }
        if len(self.data_base64) <= MAX_INLINE_DATA:
            body["data"] = self.data_base64
        else:
            body["dataOmitted"] = f"{len(self.data_base64)} base64 characters"
        return json.dumps(body, separators=(",", ":"))


class RejectSink(Protocol):
    def keep(self, records: Sequence[RejectedRecord]) -> None:
        """Store every record or raise."""
        ...


class RejectLedger:
    """Which rejected records are kept already (one small item each, by stream, shard and
    sequence number), so a whole-batch redelivery does not keep its malformed records twice.
    Marked after the send: a crash in between keeps a record twice, never zero times."""

    def __init__(self, client: Any, table_name: str, retention_seconds: int = 8 * 86400) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_seconds  # past the stream's longest retention of 7 days

    @staticmethod
    def _key(record: RejectedRecord) -> dict[str, Any]:
        source = f"{record.event_source_arn}|{record.shard_id}|{record.sequence_number}"
        return {"PK": {"S": f"REJECT#{source}"}, "SK": {"S": "REJECT"}}

    def unkept(self, records: Sequence[RejectedRecord]) -> list[RejectedRecord]:
        kept: set[str] = set()
        for start in range(0, len(records), 100):
            keys = [self._key(r) for r in records[start : start + 100]]
            unique = list({k["PK"]["S"]: k for k in keys}.values())
            request: dict[str, Any] = {self._table: {"Keys": unique, "ConsistentRead": True}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                kept |= {i["PK"]["S"] for i in response.get("Responses", {}).get(self._table, [])}
                request = response.get("UnprocessedKeys") or {}
        return [r for r in records if self._key(r)["PK"]["S"] not in kept]

    def mark(self, records: Sequence[RejectedRecord], now: float) -> None:
        for record in records:
            item = self._key(record) | {"expiresAt": {"N": str(int(now) + self._retention)}}
            self._client.put_item(TableName=self._table, Item=item)


class SqsRejectSink:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        ledger: RejectLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._ledger = ledger
        self._clock = clock

    def keep(self, records: Sequence[RejectedRecord]) -> None:
        if self._ledger is not None:
            records = self._ledger.unkept(records)
        self._send(records)
        if self._ledger is not None and records:
            try:
                self._ledger.mark(records, self._clock())
            except Exception:  # kept, not marked: a redelivery may keep them once more
                logger.warning(
                    "rejected records kept but not marked", extra={"records": len(records)}
                )

    def _send(self, records: Sequence[RejectedRecord]) -> None:
        for start in range(0, len(records), MAX_BATCH):
            chunk = records[start : start + MAX_BATCH]
            entries = [{"Id": str(i), "MessageBody": r.message()} for i, r in enumerate(chunk)]
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                retry = [entries[int(f["Id"])] for f in response["Failed"]]
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=retry)
                if response.get("Failed"):
                    raise RuntimeError(f"{len(response['Failed'])} rejected records not stored")


def reason_for(exc: BaseException) -> str:
    """A short, value-free description of why a record could not be read."""
    if isinstance(exc, binascii.Error):
        return "data is not valid base64"
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_input=False, include_url=False)[:5]:
            where = ".".join(str(p) for p in error["loc"]) or "(record)"
            parts.append(f"{where}: {error['type']}")
        more = exc.error_count() - len(parts)
        return "invalid record: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    if isinstance(exc, UnicodeDecodeError):
        return "data is not UTF-8"
    return f"unreadable record: {type(exc).__name__}"


def decode_base64(data: str) -> bytes:
    return base64.b64decode(data, validate=True)
