"""Turns what the sampler wrote to the detections stream into Lambda Kinesis events, so the
sampler's output can be fed to face_events exactly as the event source mapping would.

    records = read_stream(kinesis, "facewatch-test-detections")
    event = kinesis_event(records, stream_arn)
    face_events_app.lambda_handler(event, context)

``processor_records`` makes the stream-processor records of the same scene, for the cross-check
(same incidents from both detectors).
"""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sampler_scene import Scene


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


def processor_records(
    scene: Scene, stream_arn: str, start: float, end: float, fps: float = 1.0
) -> list[StreamRecord]:
    """What a Rekognition stream processor would write for the same scene: one record per
    analysed frame (about one a second), every face searched, fragment-relative frame times,
    random partition keys. For comparing face_events' incidents from both detectors."""
    rng = random.Random(7)
    out: list[StreamRecord] = []
    step = 1.0 / fps
    t = start
    sequence = 0
    while t < end:
        fragment = math.floor(t)
        faces = []
        for visit, (left, top, w, h) in scene.people(t):
            box = {"Width": w, "Height": h, "Left": left, "Top": top}
            matches = []
            if visit.who:
                matches.append(
                    {
                        "Similarity": 98.7,
                        "Face": {
                            "BoundingBox": {"Width": 0.5, "Height": 0.6, "Left": 0.25, "Top": 0.2},
                            "FaceId": "6c1f4e0a-93d2-4c55-9b0e-2f7f0d1a9e11",
                            "Confidence": 99.9,
                            "ImageId": "b7d0c2aa-1f3e-4e9b-8a51-7c2d9e4f6a30",
                            "ExternalImageId": visit.who,
                        },
                    }
                )
            faces.append(
                {
                    "DetectedFace": {
                        "BoundingBox": box,
                        "Confidence": 99.5,
                        "Landmarks": [],
                        "Pose": {"Pitch": 3.0, "Roll": 1.0, "Yaw": -2.0},
                        "Quality": {"Brightness": 60.0, "Sharpness": 80.0},
                    },
                    "MatchedFaces": matches,
                }
            )
        document = {
            "InputInformation": {
                "KinesisVideo": {
                    "StreamArn": stream_arn,
                    "FragmentNumber": str(
                        91343852333181902899028673905925406775303508826 + fragment
                    ),
                    "ServerTimestamp": fragment + 0.31,
                    "ProducerTimestamp": float(fragment),
                    "FrameOffsetInSeconds": round(t - fragment, 3),
                }
            },
            "StreamProcessorInformation": {"Status": "RUNNING"},
            "FaceSearchResponse": faces,
        }
        sequence += 1
        out.append(
            StreamRecord(
                data=json.dumps(document).encode(),
                partition_key=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                sequence_number=f"{49_000_000_000_000_000_000 + sequence}",
                arrival=t + 1.5,
            )
        )
        t += step
    return out
