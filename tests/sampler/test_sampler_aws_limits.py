"""The sampler within Rekognition's and KVS's documented limits: crops of at least 80 x 80 px,
GetImages pages of 25, frames selected by the producer's clock corrected for its measured skew
(and a ``Camera Health Changed`` event when it is off)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from PIL import Image

from facewatch.detections.records import ProcessorRecord
from facewatch.fleet.health import CameraHealthChanged, Overall
from facewatch.sampler.clock import measured_skew_ms, skew_off
from facewatch.sampler.faces import MIN_IMAGE_PIXELS, FaceRules, FaceSearcher
from facewatch.sampler.frames import FragmentTimes
from facewatch.sampler.run import SamplerRequest, run_group
from tests.sampler.sampler_kinesis_events import read_stream
from tests.sampler.sampler_rig import COLLECTION, REGION, STREAM, T0, Rig
from tests.sampler.sampler_scene import JitStub, Scene, SimClock, Visit, search_responder

pytestmark = pytest.mark.integration


def small_face_frame() -> tuple[bytes, dict[str, Any]]:
    """A 640 x 360 frame with a stranger whose face is 40 x 40 px (the smallest searchable)."""
    scene = Scene(clock=SimClock(0.0), visits=[Visit(0, 10, None, face_height=40 / 360)])
    jpeg = scene.render(0.0, scene.full_size)
    left, top, _w, h = scene.visits[0].box(0.0) or (0, 0, 0, 0)
    detail = {
        "BoundingBox": {"Width": 40 / 640, "Height": h, "Left": left, "Top": top},
        "Confidence": 99.0,
        "Pose": {"Roll": 0.0, "Yaw": 0.0, "Pitch": 0.0},
        "Quality": {"Brightness": 50.0, "Sharpness": 80.0},
    }
    return jpeg, detail


class TestCrops:
    def test_a_40_px_face_is_searched_on_a_crop_of_at_least_80_px(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg, detail = small_face_frame()
        stub = JitStub(
            client,
            {
                "DetectFaces": lambda _params: {"FaceDetails": [detail]},
                # AWS's answer for images under 80 x 80 px: InvalidParameterException.
                "SearchFacesByImage": search_responder(),
            },
        )
        result = FaceSearcher(client, FaceRules(collection_id=COLLECTION)).analyse(jpeg)
        crop = next(
            p["Image"]["Bytes"] for name, p in stub.requests if name == "SearchFacesByImage"
        )
        with Image.open(io.BytesIO(crop)) as image:
            assert min(image.size) >= MIN_IMAGE_PIXELS
        # 40 px + 35 % margin each side is 68 px: without the upscale Rekognition refuses it.
        assert result.unsearchable == 0
        assert len(result.entries) == 1 and result.entries[0].MatchedFaces == []

    def test_the_documented_refusal_is_counted_not_reported(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg, detail = small_face_frame()
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [detail]})
            stubber.add_client_error(
                "search_faces_by_image",
                "InvalidParameterException",
                "Request has invalid parameters",
                400,
            )
            result = FaceSearcher(client, FaceRules(collection_id=COLLECTION)).analyse(jpeg)
        assert result.entries == [] and result.unsearchable == 1

    def test_faces_under_the_smallest_searchable_size_are_counted(self, aws: None) -> None:
        client = boto3.client("rekognition", region_name=REGION)
        jpeg, detail = small_face_frame()
        tiny = {**detail, "BoundingBox": {**detail["BoundingBox"], "Width": 30 / 640}}
        with Stubber(client) as stubber:
            stubber.add_response("detect_faces", {"FaceDetails": [tiny]})
            result = FaceSearcher(client, FaceRules(collection_id=COLLECTION)).analyse(jpeg)
        assert (result.search_calls, result.too_small, result.entries) == (0, 1, [])


class TestPaging:
    def test_a_window_longer_than_a_page_is_read_across_pages_of_25(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.clock.advance(60)
        stream = rig.frames.stream("cam-1")
        frames = rig.frames.frames(
            stream, start_ms=round(T0 * 1000), end_ms=round((T0 + 20) * 1000), interval_ms=500,
            size=(128, 72), quality=80, limit=41,
        )  # fmt: skip
        assert len(frames) == 41
        requests = [p for _, p in rig.media[0].requests]
        assert [p["MaxResults"] for p in requests] == [41, 41]
        assert requests[1]["NextToken"] == "25"


class Bus:
    """In-memory stand-in for our HealthPublisher interface."""

    def __init__(self, accept: bool = True) -> None:
        self.events: list[CameraHealthChanged] = []
        self.accept = accept

    def publish(self, events: Sequence[CameraHealthChanged]) -> list[bool]:
        if self.accept:
            self.events += events
        return [self.accept] * len(events)


def run(rig: Rig, owner: str, bus: Bus, seconds: float = 58) -> Any:
    deps = rig.deps(owner)
    deps.health = bus
    remaining = int((seconds + rig.settings.stop_margin_seconds) * 1000)
    return run_group(SamplerRequest(cameras=["cam-1"]), rig.settings, deps, lambda: remaining)


class TestProducerClock:
    def test_skew_is_the_median_of_server_minus_producer_times(self) -> None:
        fragments = [
            FragmentTimes(1_000, 9_200),
            FragmentTimes(2_000, 10_150),
            FragmentTimes(3_000, 30_000),
        ]
        assert measured_skew_ms(fragments) == 8_200
        assert measured_skew_ms([]) is None

    def test_off_beyond_the_bound_and_back_within_half_of_it(self) -> None:
        assert skew_off(2_500, 2_000, was_off=False)
        assert not skew_off(1_900, 2_000, was_off=False)
        assert skew_off(1_500, 2_000, was_off=True)  # no flapping around the bound
        assert not skew_off(900, 2_000, was_off=True)

    def test_a_camera_8_s_slow_is_analysed_and_reported_once(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.scene.producer_offset = -8.0  # the office host's clock is 8 s slow
        rig.scene.visits.append(Visit(enter=T0 + 10, leave=T0 + 20, who=None))
        bus = Bus()
        report = run(rig, "inv-1", bus)
        got = [
            ProcessorRecord.model_validate_json(r.data) for r in read_stream(rig.kinesis, STREAM)
        ]
        strangers = [r for r in got if r.faces and not r.faces[0].MatchedFaces]
        assert len(strangers) >= 2
        # Records carry producer time, as a stream processor's do (clips are cut by it).
        assert all(T0 + 2 <= r.frame_time < T0 + 12 for r in strangers)
        assert report.cameras["cam-1"].clock_skew_seconds == pytest.approx(8.2, abs=0.01)
        assert report.metrics()["ClockSkewSeconds"] == pytest.approx(8.2, abs=0.01)
        assert report.metrics()["GapSeconds"] == 0
        [event] = bus.events
        assert event.camera_id == "cam-1" and event.current.status is Overall.DEGRADED
        assert "8.2 s behind" in event.current.reason
        run(rig, "inv-2", bus)  # still off: nothing new
        assert len(bus.events) == 1

    def test_a_clock_put_right_is_reported_healthy_again(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.scene.producer_offset = -8.0
        bus = Bus()
        run(rig, "inv-1", bus)
        rig.scene.producer_offset = 0.0  # NTP fixed; fragments of the last 30 s must turn over
        rig.clock.advance(40)
        run(rig, "inv-2", bus)
        assert [e.current.status for e in bus.events] == [Overall.DEGRADED, Overall.HEALTHY]
        assert bus.events[1].previous is not None
        assert bus.events[1].previous.status is Overall.DEGRADED

    def test_an_event_the_bus_refused_is_sent_at_the_next_measurement(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        rig.scene.producer_offset = 5.0  # ahead
        refused = Bus(accept=False)
        run(rig, "inv-1", refused)
        bus = Bus()
        run(rig, "inv-2", bus)
        assert [e.current.status for e in bus.events] == [Overall.DEGRADED]
        assert "ahead of" in bus.events[0].current.reason
