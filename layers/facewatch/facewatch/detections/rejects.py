"""Rejected records: malformed input kept for replay in an SQS queue, with the reason.

The reason names what was wrong (which field, which error type) but never the values: a
record's values are face data.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

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


class SqsRejectSink:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def keep(self, records: Sequence[RejectedRecord]) -> None:
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
