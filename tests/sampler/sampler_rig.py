"""The sampler wired to moto and Stubber stand-ins (for the tests and bench/sampler_bench.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import boto3

from facewatch.sampler.camera import SamplerDeps
from facewatch.sampler.checkpoint import CheckpointStore
from facewatch.sampler.faces import FaceRules, FaceSearcher
from facewatch.sampler.frames import KvsFrames
from facewatch.sampler.recordwriter import RecordWriter
from facewatch.sampler.settings import SamplerSettings
from tests.aws import create_table_from_template
from tests.sampler.sampler_scene import (
    JitStub,
    Scene,
    SimClock,
    detect_faces_responder,
    get_images_responder,
    list_fragments_responder,
    search_responder,
)

REGION = "ap-northeast-2"
STREAM = "facewatch-test-detections"
TABLE = "facewatch-test-incidents"
COLLECTION = "facewatch-employees"
T0 = 1_795_000_000.0  # scene start (Unix seconds)


@dataclass
class Rig:
    """The sampler wired to moto (KVS, Kinesis, DynamoDB) and Stubber (GetImages, Rekognition)."""

    settings: SamplerSettings
    clock: SimClock
    scene: Scene
    kinesis: Any
    table: Any
    video: Any
    rekognition: JitStub
    media: list[JitStub]
    frames: KvsFrames
    searcher: FaceSearcher
    writer: RecordWriter

    def store(self, owner: str) -> CheckpointStore:
        # A plain client: the Table resource's own client re-serializes attribute values.
        return CheckpointStore(boto3.client("dynamodb", region_name=REGION), TABLE, owner)

    def deps(self, owner: str = "invocation-1") -> SamplerDeps:
        return SamplerDeps(
            frames=self.frames,
            searcher=self.searcher,
            writer=self.writer,
            store=self.store(owner),
            clock=self.clock,
            rng=random.Random(7),
        )

    def add_camera(self, camera_id: str) -> str:
        arn: str = self.video.create_stream(StreamName=camera_id, DataRetentionInHours=24)[
            "StreamARN"
        ]
        return arn


def build_rig(settings: SamplerSettings | None = None) -> Rig:
    settings = settings or SamplerSettings(
        detections_stream_name=STREAM, table_name=TABLE, collection_id=COLLECTION
    )
    clock = SimClock(T0)
    scene = Scene(clock=clock)
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    create_table_from_template(TABLE)
    table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
    video = boto3.client("kinesisvideo", region_name=REGION)
    rekognition = JitStub(
        boto3.client("rekognition", region_name=REGION),
        {
            "DetectFaces": detect_faces_responder(scene),
            "SearchFacesByImage": search_responder(scene=scene),
        },
        clock=clock,
    )
    media: list[JitStub] = []

    def media_client(endpoint: str) -> Any:
        client = boto3.client(
            "kinesis-video-archived-media", region_name=REGION, endpoint_url=endpoint
        )
        responders = {
            "GetImages": get_images_responder(scene),
            "ListFragments": list_fragments_responder(scene),
        }
        media.append(JitStub(client, responders, clock=clock))
        return client

    frames = KvsFrames(video, media_client)
    searcher = FaceSearcher(
        rekognition.client,
        FaceRules.from_settings(settings),
    )
    writer = RecordWriter(kinesis, STREAM, clock.sleep)
    return Rig(
        settings, clock, scene, kinesis, table, video, rekognition, media, frames, searcher, writer
    )
