"""The sampler's AWS adapters: GetImages (Stubber + moto KVS), Rekognition (Stubber), Kinesis
(moto, Stubber for partial failures), checkpoints and leases (moto DynamoDB)."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from botocore.stub import ANY, Stubber
from PIL import Image

from facewatch.detections.records import ProcessorRecord
from facewatch.sampler.checkpoint import Checkpoint, item_key
from facewatch.sampler.faces import FaceRules, FaceSearcher, RekognitionThrottledError
from facewatch.sampler.frames import CameraUnavailableError, KvsFrames, VideoThrottledError
from facewatch.sampler.recordwriter import RecordWriter, build_record, encode_record
from facewatch.sampler.run import SamplerRequest, run_group
from facewatch.sampler.tracks import RateRules
from tests.sampler.sampler_kinesis_events import kinesis_event, processor_records, read_stream
from tests.sampler.sampler_rig import COLLECTION, REGION, STREAM, T0, Rig
from tests.sampler.sampler_scene import Scene, SimClock, Visit

pytestmark = pytest.mark.integration


def ms(t: float) -> int:
    return round(t * 1000)


class TestGetImages:
    def test_frames_come_oldest_first_across_pages_with_errors_per_image(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.clock.advance(60)
        rig.scene.media_errors.add(ms(T0 + 2.0))
        stream = rig.frames.stream("cam-1")
        frames = rig.frames.frames(
            stream,
            start_ms=ms(T0),
            end_ms=ms(T0 + 59.5),
            interval_ms=500,
            size=(128, 72),
            quality=80,
            limit=200,
        )
        assert len(frames) == 120  # MaxResults 100 a request, pages of 25
        assert [f.time_ms for f in frames] == sorted(f.time_ms for f in frames)
        assert frames[4].error == "MEDIA_ERROR" and frames[4].jpeg is None
        with Image.open(io.BytesIO(frames[0].jpeg or b"")) as image:
            assert image.size == (128, 72)
        requests = [p for _, p in rig.media[0].requests]
        assert requests[0]["ImageSelectorType"] == "PRODUCER_TIMESTAMP"
        assert requests[0]["SamplingInterval"] == 500
        assert requests[0]["MaxResults"] == 100  # asked for 100, answered in pages of 25
        assert [p.get("NextToken") for p in requests] == [None, "25", "50", "75", "100"]

    def test_frames_not_yet_ingested_are_no_media(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.clock.advance(10)
        stream = rig.frames.stream("cam-1")
        frames = rig.frames.frames(
            stream, start_ms=ms(T0 + 8), end_ms=ms(T0 + 10), interval_ms=500, size=None,
            quality=80, limit=10,
        )  # fmt: skip
        assert [f.error for f in frames] == [None, None, "NO_MEDIA", "NO_MEDIA", "NO_MEDIA"]

    def test_the_data_endpoint_is_asked_once_per_stream(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        stubber = Stubber(rig.video)
        stubber.activate()
        with pytest.raises(Exception):  # noqa: B017 - any call would fail on an empty Stubber
            rig.video.describe_stream(StreamName="x")
        stubber.deactivate()
        first = rig.frames.stream("cam-1")
        with Stubber(rig.video):  # no response queued: a second lookup would raise
            assert rig.frames.stream("cam-1") is first

    def test_a_missing_stream_makes_the_camera_unavailable(self, rig: Rig) -> None:
        with pytest.raises(CameraUnavailableError, match="not found"):
            rig.frames.stream("no-such-camera")

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("NoDataRetentionException", CameraUnavailableError),
            ("ResourceNotFoundException", CameraUnavailableError),
            ("ClientLimitExceededException", VideoThrottledError),
        ],
    )
    def test_getimages_errors_are_translated(self, rig: Rig, code: str, error: type) -> None:
        rig.add_camera("cam-1")
        media = boto3.client(
            "kinesis-video-archived-media", region_name=REGION, endpoint_url="https://x"
        )
        frames = KvsFrames(rig.video, lambda _endpoint: media)
        with Stubber(media) as stubber:
            stubber.add_client_error("get_images", service_error_code=code)
            with pytest.raises(error):
                frames.frames(
                    frames.stream("cam-1"), start_ms=ms(T0), end_ms=ms(T0 + 1), interval_ms=200,
                    size=None, quality=80, limit=5,
                )  # fmt: skip

    def test_an_image_with_bad_base64_is_a_media_error(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        media = boto3.client(
            "kinesis-video-archived-media", region_name=REGION, endpoint_url="https://x"
        )
        frames = KvsFrames(rig.video, lambda _endpoint: media)
        stamp = datetime.fromtimestamp(T0, tz=UTC)
        with Stubber(media) as stubber:
            stubber.add_response(
                "get_images", {"Images": [{"TimeStamp": stamp, "ImageContent": "not base64!"}]}
            )
            got = frames.frames(
                frames.stream("cam-1"), start_ms=ms(T0), end_ms=ms(T0 + 1), interval_ms=200,
                size=None, quality=80, limit=5,
            )  # fmt: skip
        assert got[0].error == "MEDIA_ERROR"


def frame_with(visits: list[Visit], t: float) -> bytes:
    scene = Scene(clock=SimClock(0.0), visits=visits)
    return scene.render(t, scene.full_size)


def detail(left: float, top: float, w: float, h: float) -> dict[str, Any]:
    return {
        "BoundingBox": {"Width": w, "Height": h, "Left": left, "Top": top},
        "Confidence": 99.0,
        "Landmarks": [{"Type": "nose", "X": left + w / 2, "Y": top + h / 2}],
        "Pose": {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0},
        "Quality": {"Brightness": 50.0, "Sharpness": 50.0},
    }


class TestFaceSearch:
    def searcher(self, client: Any) -> FaceSearcher:
        return FaceSearcher(
            client,
            FaceRules(collection_id=COLLECTION, min_face_pixels=40, min_face_confidence=90.0),
        )

    def test_every_big_enough_face_is_searched_on_its_own_crop(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg = frame_with(
            [Visit(0, 10, who="EMP-10442"), Visit(0, 10, who=None, face_height=0.3)], 0.0
        )
        big = detail(0.1, 0.15, 0.17, 0.3)
        small = detail(0.7, 0.1, 0.02, 0.05)  # 13 x 18 px: dropped before any search
        other = detail(0.5, 0.15, 0.17, 0.3)
        unsure = {**detail(0.3, 0.5, 0.17, 0.3), "Confidence": 60.0}  # face_events ignores it
        match = {
            "Similarity": 97.5,
            "Face": {"FaceId": "f-1", "ExternalImageId": "EMP-10442", "Confidence": 99.0},
        }
        search = {
            "CollectionId": COLLECTION,
            "Image": {"Bytes": ANY},
            "MaxFaces": 5,
            "FaceMatchThreshold": 80.0,
            "QualityFilter": "NONE",
        }
        with Stubber(client) as stubber:
            stubber.add_response(
                "detect_faces",
                {"FaceDetails": [big, small, unsure, other]},
                {"Image": {"Bytes": jpeg}, "Attributes": ["DEFAULT"]},
            )
            stubber.add_response("search_faces_by_image", {"FaceMatches": [match]}, search)
            stubber.add_response("search_faces_by_image", {"FaceMatches": []}, search)
            result = self.searcher(client).analyse(jpeg)
            stubber.assert_no_pending_responses()
        assert (result.detect_calls, result.search_calls, result.ignored) == (1, 2, 1)
        assert result.too_small == 1
        assert [len(e.MatchedFaces) for e in result.entries] == [1, 0]
        assert result.entries[0].DetectedFace.BoundingBox.Left == pytest.approx(0.1)
        assert result.entries[0].MatchedFaces[0].Face.ExternalImageId == "EMP-10442"

    def test_a_crop_is_the_face_with_a_margin(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg = frame_with([Visit(0, 10, who="EMP-10442")], 0.0)
        crops: list[bytes] = []
        client.meta.events.register(
            "provide-client-params.rekognition.SearchFacesByImage",
            lambda params, **_: crops.append(params["Image"]["Bytes"]),
        )
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [detail(0.1, 0.15, 0.2, 0.4)]})
            stubber.add_response("search_faces_by_image", {"FaceMatches": []})
            self.searcher(client).analyse(jpeg)
        with Image.open(io.BytesIO(crops[0])) as crop:
            # 0.2 x 640 = 128 px wide face, 35 % margin each side
            width, height = crop.size
        assert abs(width - 0.2 * 1.7 * 640) <= 1
        assert abs(height - 0.4 * 1.7 * 360) <= 1

    def test_a_face_search_cannot_find_is_not_reported_as_unknown(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg = frame_with([], 0.0)
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [detail(0.1, 0.15, 0.2, 0.4)]})
            stubber.add_client_error("search_faces_by_image", "InvalidParameterException")
            result = self.searcher(client).analyse(jpeg)
        assert result.entries == [] and result.unsearchable == 1

    @pytest.mark.parametrize(
        "code", ["ProvisionedThroughputExceededException", "ThrottlingException"]
    )
    def test_throttling_is_reported_to_the_caller(self, aws: None, code: str) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        with Stubber(client) as stubber:
            stubber.add_client_error("detect_faces", code)
            with pytest.raises(RekognitionThrottledError):
                self.searcher(client).analyse(frame_with([], 0.0))

    def test_other_errors_are_not_hidden(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [detail(0.1, 0.15, 0.2, 0.4)]})
            stubber.add_client_error("search_faces_by_image", "ResourceNotFoundException")
            with pytest.raises(Exception, match="ResourceNotFound"):
                self.searcher(client).analyse(frame_with([], 0.0))

    def test_boxes_outside_the_frame_are_kept_within_the_record_bounds(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [detail(-0.05, 0.1, 1.0, 0.9)]})
            stubber.add_response("search_faces_by_image", {"FaceMatches": []})
            entry = self.searcher(client).analyse(frame_with([], 0.0)).entries[0]
        assert entry.DetectedFace.BoundingBox.Left == pytest.approx(-0.05)


ARN = "arn:aws:kinesisvideo:ap-northeast-2:123456789012:stream/cam-1/1598784211076"


class TestRecordWriter:
    def test_records_land_with_the_camera_as_partition_key(self, rig: Rig) -> None:
        payloads = [encode_record(build_record(ARN, ms(T0) + i * 500, [])) for i in range(3)]
        assert rig.writer.put("cam-1", payloads) == [True, True, True]
        records = read_stream(rig.kinesis, STREAM)
        assert [r.partition_key for r in records] == ["cam-1"] * 3
        assert [ProcessorRecord.model_validate_json(r.data).camera_id for r in records] == [
            "cam-1"
        ] * 3

    def test_only_failed_entries_are_resent(self, aws: None) -> None:
        kinesis = boto3.client("kinesis", region_name=REGION)
        slept: list[float] = []
        writer = RecordWriter(kinesis, STREAM, slept.append)
        a, b = b'{"a":1}', b'{"b":2}'
        with Stubber(kinesis) as stubber:
            stubber.add_response(
                "put_records",
                {
                    "FailedRecordCount": 1,
                    "Records": [
                        {"SequenceNumber": "1", "ShardId": "shardId-0"},
                        {
                            "ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": "slow down",
                        },
                    ],
                },
                {
                    "StreamName": STREAM,
                    "Records": [
                        {"Data": a, "PartitionKey": "cam-1"},
                        {"Data": b, "PartitionKey": "cam-1"},
                    ],
                },
            )
            stubber.add_response(
                "put_records",
                {"Records": [{"SequenceNumber": "2", "ShardId": "shardId-0"}]},
                {"StreamName": STREAM, "Records": [{"Data": b, "PartitionKey": "cam-1"}]},
            )
            assert writer.put("cam-1", [a, b]) == [True, True]
        assert slept == [0.1]

    def test_a_record_that_never_gets_in_is_reported_not_dropped(self, aws: None) -> None:
        kinesis = boto3.client("kinesis", region_name=REGION)
        writer = RecordWriter(kinesis, STREAM, lambda _s: None, attempts=2)
        with Stubber(kinesis) as stubber:
            for _ in range(2):
                stubber.add_client_error("put_records", "ProvisionedThroughputExceededException")
            assert writer.put("cam-1", [b"{}"]) == [False]

    def test_large_batches_are_split_within_the_putrecords_limits(self, rig: Rig) -> None:
        payload = encode_record(build_record(ARN, ms(T0), []))
        assert all(rig.writer.put("cam-1", [payload] * 1200))
        assert len(read_stream(rig.kinesis, STREAM)) == 1200


class TestKinesisEventHelper:
    def test_sampler_output_becomes_a_lambda_kinesis_event(self, rig: Rig) -> None:
        rig.writer.put("cam-1", [encode_record(build_record(ARN, ms(T0), []))])
        event = kinesis_event(
            read_stream(rig.kinesis, STREAM), "arn:aws:kinesis:ap-northeast-2:123456789012:stream/x"
        )
        records = list(KinesisStreamEvent(event).records)
        assert len(records) == 1
        data = base64.b64decode(records[0].kinesis.data)
        assert ProcessorRecord.model_validate_json(data).frame_time == pytest.approx(T0)
        assert records[0].kinesis.partition_key == "cam-1"


class TestCheckpoints:
    def test_one_invocation_at_a_time_holds_a_camera(self, rig: Rig) -> None:
        a, b = (
            rig.store("a"),
            rig.store("b"),
        )
        assert a.acquire("cam-1", now_ms=1_000, until_ms=60_000) is not None
        assert b.acquire("cam-1", now_ms=2_000, until_ms=60_000) is None
        assert a.acquire("cam-1", now_ms=3_000, until_ms=70_000) is not None  # renew

    def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_write(self, rig: Rig) -> None:
        a, b = (
            rig.store("a"),
            rig.store("b"),
        )
        mine = a.acquire("cam-1", now_ms=1_000, until_ms=60_000)
        assert mine is not None
        assert b.acquire("cam-1", now_ms=60_001, until_ms=120_000) is not None
        mine.last_frame_ms = 5
        assert a.save(mine, now_ms=60_002, until_ms=60_000) is False

    def test_progress_survives_a_handover(self, rig: Rig) -> None:
        a, b = (
            rig.store("a"),
            rig.store("b"),
        )
        mine = a.acquire("cam-1", now_ms=1_000, until_ms=60_000)
        assert mine is not None
        mine.last_frame_ms, mine.last_analysed_ms, mine.last_faces_ms = 900, 800, 800
        mine.gate_ref, mine.pending = b"\x01\x02", [b"record"]
        assert a.save(mine, now_ms=2_000, until_ms=60_000, release=True)
        theirs = b.acquire("cam-1", now_ms=2_001, until_ms=120_000)  # released: no wait
        assert theirs == Checkpoint("cam-1", 900, 800, 800, b"\x01\x02", [b"record"])

    def test_the_item_expires_a_week_after_the_last_save(self, rig: Rig) -> None:
        store = rig.store("a")
        mine = store.acquire("cam-1", now_ms=1_000_000, until_ms=60_000_000)
        assert mine is not None
        mine.pending = [b"a record with face data"]
        store.save(mine, now_ms=2_000_000, until_ms=60_000_000, release=True)
        item = rig.table.get_item(Key=item_key("cam-1"))["Item"]
        assert int(item["expiresAt"]) == 2_000 + 7 * 24 * 3600

    def test_the_item_uses_the_camera_key_convention(self, rig: Rig) -> None:
        rig.store("a").acquire("cam-1", now_ms=1_000, until_ms=60_000)
        item = rig.table.get_item(Key=item_key("cam-1"))["Item"]
        assert (item["PK"], item["SK"]) == ("CAMERA#cam-1", "SAMPLER")


class TestCrossCheckHelpers:
    def test_sampler_and_processor_records_of_one_scene_tell_the_same_story(self, rig: Rig) -> None:
        start = T0
        arn = rig.add_camera("cam-1")
        rig.scene.visits += [
            Visit(enter=start + 5, leave=start + 12, who=None),
            Visit(enter=start + 20, leave=start + 26, who="EMP-10442"),
        ]
        run_group(SamplerRequest(cameras=["cam-1"]), rig.settings, rig.deps(), lambda: 45_000)
        sampler = [
            ProcessorRecord.model_validate_json(r.data) for r in read_stream(rig.kinesis, STREAM)
        ]
        processor = [
            ProcessorRecord.model_validate_json(r.data)
            for r in processor_records(rig.scene, "cam-1", arn, start, start + 30)
        ]

        def story(records: list[ProcessorRecord]) -> tuple[set[int], set[int]]:
            unknown = {
                int(r.frame_time - start) for r in records for f in r.faces if not f.MatchedFaces
            }
            known = {int(r.frame_time - start) for r in records for f in r.faces if f.MatchedFaces}
            return unknown, known

        sampler_unknown, sampler_known = story(sampler)
        processor_unknown, processor_known = story(processor)
        assert sampler_unknown and sampler_unknown <= processor_unknown
        assert sampler_known and sampler_known <= processor_known
        # A stranger's track is followed fast for its first records (face_events'
        # MIN_DETECTIONS), then every few seconds: enough to keep its incident going.
        assert len(sampler_unknown) >= RateRules().unknown_records
        event = kinesis_event(
            processor_records(rig.scene, "cam-1", arn, start, start + 3),
            "arn:aws:kinesis:ap-northeast-2:123456789012:stream/x",
        )
        assert len(event["Records"]) == 3
        assert len({r["kinesis"]["partitionKey"] for r in event["Records"]}) == 3  # random keys
