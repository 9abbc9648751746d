"""Records in the stream processor's exact format, written to the detections stream.

GetImages gives a frame's producer timestamp but neither its fragment number nor its offset in
the fragment, so a sampler record carries:
- ProducerTimestamp = the frame's producer time, FrameOffsetInSeconds = 0 (frame time is then
  ProducerTimestamp + offset, as for processor records);
- ServerTimestamp = the same time (GetImages by producer time does not return the server's);
- FragmentNumber = the frame time in milliseconds: a decimal string, unique per frame and
  deterministic, so a re-sent record has the same frame key and face_events drops it; it cannot
  collide with real fragment numbers (those have about 47 digits);
- an extra top-level field ``FacewatchSource: "sampler"`` (the record model allows extra fields).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.detections.records import (
    FaceSearchEntry,
    InputInfo,
    KinesisVideoInfo,
    ProcessorInfo,
    ProcessorRecord,
)

SOURCE_FIELD = "FacewatchSource"
SOURCE = "sampler"
MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024


def build_record(
    stream_arn: str, frame_ms: int, faces: Sequence[FaceSearchEntry]
) -> ProcessorRecord:
    seconds = frame_ms / 1000.0
    return ProcessorRecord(
        InputInformation=InputInfo(
            KinesisVideo=KinesisVideoInfo(
                StreamArn=stream_arn,
                FragmentNumber=str(frame_ms),
                ServerTimestamp=seconds,
                ProducerTimestamp=seconds,
                FrameOffsetInSeconds=0.0,
            )
        ),
        StreamProcessorInformation=ProcessorInfo(Status="RUNNING"),
        FaceSearchResponse=list(faces),
    )


def encode_record(record: ProcessorRecord) -> bytes:
    """The record's JSON with the source marker; ProcessorRecord.model_validate_json reads it."""
    document: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    document[SOURCE_FIELD] = SOURCE
    return json.dumps(document, separators=(",", ":")).encode()


class RecordWriter:
    """PutRecords with the camera id as partition key (one camera's records stay on one shard,
    in order). Failed entries alone are resent, with backoff, a bounded number of times."""

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        sleep: Callable[[float], None],
        attempts: int = 4,
        base_delay: float = 0.1,
    ) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name
        self._sleep = sleep
        self._attempts = attempts
        self._base_delay = base_delay

    def put(self, partition_key: str, payloads: Sequence[bytes]) -> list[bool]:
        """Writes the payloads; returns, for each, whether it is in the stream."""
        written = [False] * len(payloads)
        for chunk in _chunks(list(range(len(payloads))), payloads):
            todo = chunk
            for attempt in range(self._attempts):
                if attempt:
                    self._sleep(self._base_delay * 2 ** (attempt - 1))
                todo = self._put_once(partition_key, payloads, todo, written)
                if not todo:
                    break
        return written

    def _put_once(
        self, key: str, payloads: Sequence[bytes], indexes: list[int], written: list[bool]
    ) -> list[int]:
        try:
            response = self._kinesis.put_records(
                StreamName=self._stream_name,
                Records=[{"Data": payloads[i], "PartitionKey": key} for i in indexes],
            )
        except (ClientError, BotoCoreError):
            return indexes  # the whole call failed (throughput, network): all of them again
        failed: list[int] = []
        for index, result in zip(indexes, response["Records"], strict=True):
            if result.get("ErrorCode"):
                failed.append(index)
            else:
                written[index] = True
        return failed


def _chunks(indexes: list[int], payloads: Sequence[bytes]) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indexes:
        length = len(payloads[index]) + 64  # + partition key
        if current and (len(current) == MAX_RECORDS_PER_CALL or size + length > MAX_BYTES_PER_CALL):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += length
    if current:
        chunks.append(current)
    return chunks
