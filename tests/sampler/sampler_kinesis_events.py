"""Turns what the sampler wrote to the detections stream into Lambda Kinesis events, so the
sampler's output can be fed to face_events exactly as the event source mapping would.

    records = read_stream(kinesis, "facewatch-test-detections")
    event = kinesis_event(records, stream_arn)
    face_events_app.lambda_handler(event, context)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamRecord:
    data: bytes
    partition_key: str
    sequence_number: str
    arrival: float


def read_stream(kinesis: Any, stream_name: str) -> list[StreamRecord]:
    """Every record in the stream, shard by shard, in sequence order (moto or AWS)."""
    records: list[StreamRecord] = []
    shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records += [
                StreamRecord(
                    data=r["Data"],
                    partition_key=r["PartitionKey"],
                    sequence_number=r["SequenceNumber"],
                    arrival=r["ApproximateArrivalTimestamp"].timestamp(),
                )
                for r in page["Records"]
            ]
            if not page["Records"] or page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return records


def kinesis_event(
    records: list[StreamRecord], stream_arn: str, region: str = "ap-northeast-2"
) -> dict[str, Any]:
    """A Lambda event for a Kinesis event source mapping batch holding ``records``."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": record.sequence_number,
                    "data": base64.b64encode(record.data).decode(),
                    "approximateArrivalTimestamp": record.arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{record.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/facewatch-face-events",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for record in records
        ]
    }
