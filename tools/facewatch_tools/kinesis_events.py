"""Lambda Kinesis events (the shape the event source mapping delivers), built from payloads."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

DEFAULT_STREAM_ARN = "arn:aws:kinesis:ap-northeast-2:111122223333:stream/facewatch-dev-detections"


def encode(payload: dict[str, Any] | bytes | str) -> str:
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(",", ":"))
    if isinstance(payload, str):
        payload = payload.encode()
    return base64.b64encode(payload).decode()


def kinesis_record(
    data_base64: str,
    sequence_number: str,
    *,
    partition_key: str = "pk",
    shard_id: str = "shardId-000000000000",
    arrival: float = 1795000000.0,
    stream_arn: str = DEFAULT_STREAM_ARN,
    identity_arn: str = "arn:aws:iam::111122223333:role/facewatch-face-events",
) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": data_base64,
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": identity_arn,
        "awsRegion": stream_arn.split(":")[3],
        "eventSourceARN": stream_arn,
    }


def kinesis_event(
    payloads: Iterable[dict[str, Any] | bytes | str],
    *,
    shard_id: str = "shardId-000000000000",
    first_sequence: int = 49590338271490256608559692538361571095921575989136588898,
) -> dict[str, Any]:
    records = [
        kinesis_record(
            encode(p), str(first_sequence + i), partition_key=f"pk-{i}", shard_id=shard_id
        )
        for i, p in enumerate(payloads)
    ]
    return {"Records": records}
