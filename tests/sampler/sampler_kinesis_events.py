"""The sampler's output as the face_events handler receives it, and the stream-processor records
of the same scene, for checking that both detectors give the same incidents.

    records = read_stream(kinesis, "facewatch-test-detections")   # what the sampler wrote
    face_events_app.lambda_handler(kinesis_event(records), context)
    face_events_app.lambda_handler(kinesis_event(processor_records(scene, ...)), context)

Built on facewatch_tools.kinesis_events and facewatch_tools.frames (the project's one builder of
Lambda Kinesis events and of processor records).
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.kinesis_events import DEFAULT_STREAM_ARN, kinesis_record
from tests.sampler.sampler_scene import Scene


@dataclass(frozen=True)
class StreamRecord:
    data: bytes
    partition_key: str
    sequence_number: str
    arrival: float


def read_stream(kinesis: Any, stream_name: str) -> list[StreamRecord]:
    """Every record in the stream, shard by shard, in sequence order (moto or AWS)."""
    records: list[StreamRecord] = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
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
    records: list[StreamRecord], stream_arn: str = DEFAULT_STREAM_ARN
) -> dict[str, Any]:
    """A Lambda event for a Kinesis event source mapping batch holding ``records``."""
    return {
        "Records": [
            kinesis_record(
                base64.b64encode(r.data).decode(),
                r.sequence_number,
                partition_key=r.partition_key,
                arrival=r.arrival,
                stream_arn=stream_arn,
            )
            for r in records
        ]
    }


def processor_records(
    scene: Scene, camera_id: str, stream_arn: str, start: float, end: float, fps: float = 1.0
) -> list[StreamRecord]:
    """What a Rekognition stream processor would write for the same scene: one record per
    analysed frame (about one a second), every face searched, fragment-relative frame times,
    a random partition key per record."""
    rng = random.Random(7)
    out: list[StreamRecord] = []
    steps = int((end - start) * fps)
    for i in range(steps):
        t = start + i / fps
        faces = [
            FaceSpec(employee_id=visit.who, left=left, top=top, width=w, height=h)
            for visit, (left, top, w, h) in scene.people(t)
        ]
        record = frame_record(camera_id, t, faces, arn=stream_arn, fragment_seconds=1.0)
        out.append(
            StreamRecord(
                data=json.dumps(record).encode(),
                partition_key=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                sequence_number=str(49_590_338_271_490_256_608_559_692_538_361_571 + i),
                arrival=t + 1.5,
            )
        )
    return out
