"""Event source mappings, as Lambda runs them: Kinesis and SQS pollers driving the real handlers.

Kinesis (per shard, in order): a batch is up to ``BatchSize`` records, handed over when full or
when ``MaximumBatchingWindowInSeconds`` has passed since its first record (or at once when
the caller drains). A function error retries the whole batch, halved each time when
``BisectBatchOnFunctionError``; with ``ReportBatchItemFailures`` the shard resumes from the
lowest failed sequence number. After ``MaximumRetryAttempts`` retries (or when records are
older than ``MaximumRecordAgeInSeconds``) the batch's shard range goes to the ``OnFailure``
destination in Lambda's format and the shard moves on.

SQS: batches of up to ``BatchSize`` messages; handled messages are deleted, failed ones
(all on a function error; the reported ones with ``ReportBatchItemFailures``) return to the
queue at once (locally, instead of after the visibility timeout) and the queue's redrive
policy moves them to its DLQ.

Time comes from an injected clock; nothing here sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from facewatch.timestamps import iso
from facewatch_tools.kinesis_events import kinesis_record
from facewatch_tools.local.deploy import MappingSpec

Invoke = Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class _Pending:
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float


@dataclass(slots=True)
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[_Pending] = field(default_factory=list)
    buffered_since: float | None = None
    batch_limit: int = 0
    attempts: int = 0


@dataclass(slots=True)
class MappingStats:
    invocations: int = 0
    records: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    discarded_batches: int = 0


def _failed_sequence(response: Any, batch: list[_Pending]) -> str | None:
    """The lowest failed sequence number of a partial-batch response, or None if all succeeded.

    A response Lambda cannot read (an unknown or empty identifier) fails the whole batch.
    """
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures") or []
    if not failures:
        return None
    known = {p.sequence_number for p in batch}
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(i not in known for i in ids):
        return batch[0].sequence_number
    return min((str(i) for i in ids), key=int)


class KinesisPoller:
    def __init__(
        self,
        spec: MappingSpec,
        kinesis: Any,
        sqs: Any,
        invoke: Invoke,
        *,
        clock: Callable[[], float],
        identity_arn: str,
    ) -> None:
        self.spec = spec
        self._kinesis = kinesis
        self._sqs = sqs
        self._invoke = invoke
        self._clock = clock
        self._identity_arn = identity_arn
        self._stream_name = spec.source_arn.rsplit("/", 1)[-1]
        self._shards: dict[str, _Shard] = {}
        self.stats = MappingStats()

    def start(self) -> None:
        shards = self._kinesis.list_shards(StreamName=self._stream_name)["Shards"]
        position = self.spec.starting_position
        for shard in shards:
            iterator = self._kinesis.get_shard_iterator(
                StreamName=self._stream_name,
                ShardId=shard["ShardId"],
                ShardIteratorType=position if position != "AT_TIMESTAMP" else "LATEST",
            )["ShardIterator"]
            self._shards[shard["ShardId"]] = _Shard(
                shard["ShardId"], iterator, batch_limit=self.spec.batch_size
            )

    def _fetch(self, shard: _Shard) -> None:
        if shard.iterator is None or len(shard.buffer) >= self.spec.batch_size:
            return
        response = self._kinesis.get_records(ShardIterator=shard.iterator, Limit=10000)
        shard.iterator = response.get("NextShardIterator")
        for record in response.get("Records", []):
            arrival = record["ApproximateArrivalTimestamp"]
            shard.buffer.append(
                _Pending(
                    record["SequenceNumber"],
                    record["PartitionKey"],
                    record["Data"],
                    arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival),
                )
            )
        if shard.buffer and shard.buffered_since is None:
            shard.buffered_since = self._clock()

    def poll(self, *, drain: bool = False) -> int:
        """Fetch and invoke where a batch is due; return how many records were handed over."""
        if not self.spec.enabled:
            return 0
        handed = 0
        for shard in self._shards.values():
            self._fetch(shard)
            if not shard.buffer:
                continue
            due = len(shard.buffer) >= self.spec.batch_size or drain
            waited = self._clock() - (shard.buffered_since or self._clock())
            if not due and waited < self.spec.window_seconds:
                continue
            handed += self._run_batch(shard)
        return handed

    def backlog(self) -> int:
        return sum(len(s.buffer) for s in self._shards.values())

    def _event(self, shard: _Shard, batch: list[_Pending]) -> dict[str, Any]:
        return {
            "Records": [
                kinesis_record(
                    base64.b64encode(p.data).decode(),
                    p.sequence_number,
                    partition_key=p.partition_key,
                    shard_id=shard.shard_id,
                    arrival=p.arrival,
                    stream_arn=self.spec.source_arn,
                    identity_arn=self._identity_arn,
                )
                for p in batch
            ]
        }

    def _run_batch(self, shard: _Shard) -> int:
        batch = shard.buffer[: max(1, min(shard.batch_limit, self.spec.batch_size))]
        expired = self._expired(batch)
        if expired:
            self._give_up(shard, batch, "RecordAgeExceeded", None)
            return len(batch)
        self.stats.invocations += 1
        self.stats.records += len(batch)
        try:
            response = self._invoke(self._event(shard, batch))
        except Exception:
            self.stats.function_errors += 1
            shard.attempts += 1
            if self._exhausted(shard):
                self._give_up(shard, batch, "RetryAttemptsExhausted", "Unhandled")
            elif self.spec.bisect and len(batch) > 1:
                shard.batch_limit = len(batch) // 2
            return len(batch)
        failed = _failed_sequence(response, batch) if self.spec.report_item_failures else None
        if failed is None:
            del shard.buffer[: len(batch)]
            self._reset(shard)
            return len(batch)
        self.stats.partial_failures += 1
        done = [p for p in batch if int(p.sequence_number) < int(failed)]
        del shard.buffer[: len(done)]
        shard.attempts += 1
        if self._exhausted(shard):
            self._give_up(shard, batch[len(done) :], "RetryAttemptsExhausted", None)
        return len(batch)

    def _expired(self, batch: list[_Pending]) -> bool:
        age = self.spec.max_record_age
        return age >= 0 and self._clock() - batch[0].arrival > age

    def _exhausted(self, shard: _Shard) -> bool:
        retries = self.spec.max_retries
        return retries >= 0 and shard.attempts > retries

    def _reset(self, shard: _Shard) -> None:
        shard.attempts = 0
        shard.batch_limit = self.spec.batch_size
        shard.buffered_since = self._clock() if shard.buffer else None

    def _give_up(
        self, shard: _Shard, batch: list[_Pending], condition: str, function_error: str | None
    ) -> None:
        """Skip the batch: its shard range goes to the OnFailure destination, as Lambda does."""
        self.stats.discarded_batches += 1
        if self.spec.on_failure:
            self._send_failure(shard, batch, condition, function_error)
        del shard.buffer[: len(batch)]
        self._reset(shard)

    def _send_failure(
        self, shard: _Shard, batch: list[_Pending], condition: str, function_error: str | None
    ) -> None:
        destination = self.spec.on_failure or ""
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = function_error
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.spec.function_arn,
                "condition": condition,
                "approximateInvokeCount": shard.attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": iso(self._clock()),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": batch[0].sequence_number,
                "endSequenceNumber": batch[-1].sequence_number,
                "approximateArrivalOfFirstRecord": iso(batch[0].arrival),
                "approximateArrivalOfLastRecord": iso(batch[-1].arrival),
                "batchSize": len(batch),
                "streamArn": self.spec.source_arn,
            },
        }
        if destination.split(":")[2] == "sqs":
            self._sqs.send_message(
                QueueUrl=queue_url(destination, self._sqs), MessageBody=json.dumps(message)
            )


def queue_url(arn: str, sqs: Any) -> str:
    _, _, _, _region, account, name = arn.split(":", 5)
    url: str = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    return url


class SqsPoller:
    def __init__(self, spec: MappingSpec, sqs: Any, invoke: Invoke, region: str) -> None:
        self.spec = spec
        self._sqs = sqs
        self._invoke = invoke
        self._region = region
        self._url = ""
        self.stats = MappingStats()

    def start(self) -> None:
        self._url = queue_url(self.spec.source_arn, self._sqs)

    def backlog(self) -> int:
        return 0

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.spec.batch_size:
            found = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(10, self.spec.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not found:
                break
            messages += found
        return messages

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body = message["Body"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.source_arn,
            "awsRegion": self._region,
        }

    def poll(self, *, drain: bool = False) -> int:
        if not self.spec.enabled:
            return 0
        messages = self._receive()
        if not messages:
            return 0
        self.stats.invocations += 1
        self.stats.records += len(messages)
        try:
            response = self._invoke({"Records": [self._record(m) for m in messages]})
        except Exception:
            self.stats.function_errors += 1
            self._release(messages)
            return len(messages)
        failed: set[str] = set()
        if self.spec.report_item_failures and isinstance(response, dict):
            failed = {
                str(f.get("itemIdentifier"))
                for f in response.get("batchItemFailures") or []
                if isinstance(f, dict)
            }
            if failed:
                self.stats.partial_failures += 1
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        self._release([m for m in messages if m["MessageId"] in failed])
        return len(messages)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
