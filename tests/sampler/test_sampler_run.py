"""The sampler end to end on a synthetic scene: KVS and Rekognition through Stubber, Kinesis,
KVS control plane and DynamoDB on moto, time on a simulated clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from facewatch.detections.records import ProcessorRecord
from facewatch.sampler.checkpoint import item_key
from facewatch.sampler.recordwriter import SOURCE_FIELD, RecordWriter
from facewatch.sampler.run import RunReport, SamplerRequest, run_group
from facewatch.sampler.tracks import RateRules
from tests.sampler.sampler_kinesis_events import read_stream
from tests.sampler.sampler_rig import STREAM, T0, Rig
from tests.sampler.sampler_scene import Visit

pytestmark = pytest.mark.integration


def run(rig: Rig, cameras: Sequence[str], seconds: float, owner: str = "inv-1") -> RunReport:
    remaining_ms = int((seconds + rig.settings.stop_margin_seconds) * 1000)
    report = run_group(
        SamplerRequest(cameras=list(cameras)), rig.settings, rig.deps(owner), lambda: remaining_ms
    )
    assert report.totals["cycle_errors"] == 0  # faults are handled, never a crashed cycle
    return report


def records(rig: Rig) -> list[ProcessorRecord]:
    return [ProcessorRecord.model_validate_json(r.data) for r in read_stream(rig.kinesis, STREAM)]


def who(record: ProcessorRecord) -> list[str | None]:
    return [
        face.MatchedFaces[0].Face.ExternalImageId if face.MatchedFaces else None
        for face in record.faces
    ]


def lowres_requests(rig: Rig) -> list[dict[str, Any]]:
    return [p for stub in rig.media for _, p in stub.requests if "WidthPixels" in p]


@pytest.fixture
def lobby(rig: Rig) -> Rig:
    rig.add_camera("cam-1")
    rig.scene.visits += [
        Visit(enter=T0 + 10, leave=T0 + 20, who=None),
        Visit(enter=T0 + 30, leave=T0 + 38, who="EMP-10442"),
    ]
    return rig


class TestOneInvocation:
    def test_visitors_become_processor_records_and_empty_scenes_cost_nothing(
        self, lobby: Rig
    ) -> None:
        report = run(lobby, ["cam-1"], 58)
        got = records(lobby)
        stranger = [r for r in got if who(r) == [None]]
        employee = [r for r in got if who(r) == ["EMP-10442"]]
        # 10 s in view: two records 0.5 s apart (MIN_DETECTIONS), then one every unknown_ms.
        rates = RateRules()
        fast = rates.unknown_records * rates.new_ms
        assert len(stranger) >= rates.unknown_records + (10_000 - fast) // rates.unknown_ms
        assert all(T0 + 10 <= r.frame_time < T0 + 20 for r in stranger)
        assert len(employee) >= 4
        assert all(T0 + 30 <= r.frame_time < T0 + 38 for r in employee)
        assert {r.camera_id for r in got} == {"cam-1"}
        assert len({r.frame_key for r in got}) == len(got)  # no frame twice
        totals = report.totals
        assert totals["frames_seen"] >= 100
        # One record per frame analysed; a mosaic look analyses several frames in one call.
        assert totals["frames_analysed"] == len(got)
        assert totals["detect_calls"] <= min(totals["frames_analysed"], 30)  # the empty lobby
        assert totals["mosaics"] >= 1
        assert report.metrics()["GapSeconds"] == 0
        assert report.cameras["cam-1"].served

    def test_records_carry_the_source_and_go_to_the_camera_partition(self, lobby: Rig) -> None:
        run(lobby, ["cam-1"], 30)
        raw = read_stream(lobby.kinesis, STREAM)
        assert raw and {r.partition_key for r in raw} == {"cam-1"}
        assert all(
            ProcessorRecord.model_validate_json(r.data).model_extra == {SOURCE_FIELD: "sampler"}
            for r in raw
        )

    def test_getimages_is_asked_at_low_resolution_and_the_configured_rate(self, lobby: Rig) -> None:
        run(lobby, ["cam-1"], 20)
        low = lowres_requests(lobby)
        assert low and all(p["SamplingInterval"] == 500 for p in low)
        assert all((p["WidthPixels"], p["HeightPixels"]) == (128, 72) for p in low)
        full = [
            p
            for s in lobby.media
            for name, p in s.requests
            if name == "GetImages" and "WidthPixels" not in p
        ]
        assert len(full) == lobby.rekognition.calls["DetectFaces"]  # full frames only to analyse

    def test_a_seated_person_is_rechecked_while_present(self, rig: Rig) -> None:
        rig.add_camera("cam-1")
        # Nearly still for 40 s: the gate alone would analyse it once.
        rig.scene.visits.append(Visit(enter=T0 - 20, leave=T0 + 4000, who=None))
        run(rig, ["cam-1"], 40)
        times = [r.frame_time for r in records(rig) if r.faces]
        assert len(times) >= 8
        gap = max(b - a for a, b in itertools.pairwise(times))
        assert gap <= RateRules().unknown_ms / 1000 + 0.5  # a stranger's rate, give a frame

    def test_a_walk_by_not_facing_the_camera_is_looked_at_slower_and_a_face_still_found(
        self, rig: Rig
    ) -> None:
        rig.add_camera("cam-1")
        rates = RateRules()
        # 30 s walking across with the back to the camera, the face turned to it for 2 s late:
        # after the first looks find no face, faceless motion is looked at every
        # faceless_slow_ms; each look covers every frame since the last, so the face is found.
        rig.scene.visits.append(
            Visit(enter=T0 + 5, leave=T0 + 35, who=None, face_height=0.2, start_x=0.1,
                  end_x=0.6, facing=((T0 + 26, T0 + 28),))
        )  # fmt: skip
        run(rig, ["cam-1"], 40)
        before_face = [
            t
            for name, params in rig.rekognition.requests
            if name == "DetectFaces"
            and (t := rig.scene.time_of(params["Image"]["Bytes"]) or rig.scene.last_full_time)
            is not None
            and t < T0 + 26
        ]
        fast = 1 + rates.faceless_fast_looks  # the first sight, then the fast ones
        slow = (21_000 - rates.faceless_fast_looks * rates.faceless_ms) // rates.faceless_slow_ms
        assert len(before_face) <= fast + slow < 21 // 3 + 1  # fewer than at the fast rate
        stranger = [r.frame_time for r in records(rig) if who(r) == [None]]
        assert len(stranger) >= rates.unknown_records
        assert all(T0 + 26 <= t < T0 + 28 for t in stranger)

    def test_the_invocation_ends_by_itself_and_hands_the_camera_over(self, lobby: Rig) -> None:
        run(lobby, ["cam-1"], 10)
        assert lobby.clock.now() <= T0 + 10.001
        item = lobby.table.get_item(Key=item_key("cam-1"))["Item"]
        assert "leaseOwner" not in item
        assert int(item["lastFrameMs"]) >= round(
            (T0 + 10 - lobby.settings.media_wait_seconds) * 1000
        )


class TestHandover:
    def test_consecutive_invocations_continue_without_gap_or_double_frame(self, lobby: Rig) -> None:
        first = run(lobby, ["cam-1"], 15, owner="inv-1")  # ends while the stranger is in view
        second = run(lobby, ["cam-1"], 43, owner="inv-2")
        got = records(lobby)
        assert len({r.frame_key for r in got}) == len(got)
        assert any(who(r) == [None] and r.frame_time < T0 + 15 for r in got)
        assert any(who(r) == [None] and r.frame_time >= T0 + 15 for r in got)
        assert any(who(r) == ["EMP-10442"] for r in got)
        # Every sampling point from the first to the checkpoint was looked at exactly once.
        item = lobby.table.get_item(Key=item_key("cam-1"))["Item"]
        first_start = min(p["StartTimestamp"].timestamp() for p in lowres_requests(lobby))
        points = (int(item["lastFrameMs"]) - round(first_start * 1000)) // 500 + 1
        assert first.totals["frames_seen"] + second.totals["frames_seen"] == points
        assert first.metrics()["GapSeconds"] == second.metrics()["GapSeconds"] == 0

    def test_an_invocation_waits_while_another_holds_the_camera(self, lobby: Rig) -> None:
        other = lobby.store("overrunning")
        assert other.acquire("cam-1", now_ms=round(T0 * 1000), until_ms=round((T0 + 5) * 1000))
        report = run(lobby, ["cam-1"], 12, owner="inv-2")
        assert report.cameras["cam-1"].served  # took over once the lease expired
        assert lobby.clock.now() >= T0 + 5
        first_request = min(p["StartTimestamp"].timestamp() for p in lowres_requests(lobby))
        assert first_request >= T0 + 5 - lobby.settings.media_wait_seconds - 0.001

    def test_a_camera_held_all_along_is_reported_not_served(self, lobby: Rig) -> None:
        lobby.store("other").acquire("cam-1", 0, round((T0 + 600) * 1000))
        report = run(lobby, ["cam-1"], 10)
        assert not report.cameras["cam-1"].served
        assert report.metrics()["CamerasNotServed"] == 1
        assert records(lobby) == []

    def test_ending_mid_catch_up_leaves_the_rest_to_the_next_invocation(self, lobby: Rig) -> None:
        # Each analysis takes 2 s of (simulated) service time: the budget ends mid-window.
        lobby.rekognition.latency["DetectFaces"] = 2.0
        lobby.rekognition.clock = lobby.clock
        run(lobby, ["cam-1"], 14, owner="inv-1")
        between = records(lobby)
        run(lobby, ["cam-1"], 40, owner="inv-2")
        got = records(lobby)
        assert len(got) > len(between)
        assert len({r.frame_key for r in got}) == len(got)


class TestFaults:
    def test_an_offline_camera_is_a_reported_gap_not_a_crash(self, lobby: Rig) -> None:
        lobby.scene.offline.append((T0 + 5, T0 + 25))
        report = run(lobby, ["cam-1"], 58)
        assert report.metrics()["GapSeconds"] == pytest.approx(20, abs=1)
        assert report.metrics()["FramesNoMedia"] >= 39
        assert any(who(r) == ["EMP-10442"] for r in records(lobby))  # back online: served

    def test_a_missing_stream_does_not_stop_the_other_cameras(self, lobby: Rig) -> None:
        report = run(lobby, ["ghost-cam", "cam-1"], 40)
        assert report.cameras["ghost-cam"].unavailable == "stream not found"
        assert report.metrics()["CamerasUnavailable"] == 1
        assert any(who(r) == [None] for r in records(lobby))

    def test_media_errors_are_counted_and_skipped(self, lobby: Rig) -> None:
        # Every frame time from 11 s to 12 s fails (the sampling grid follows the clock skew).
        lobby.scene.media_errors.update(range(round((T0 + 11) * 1000), round((T0 + 12) * 1000) + 1))
        report = run(lobby, ["cam-1"], 30)
        assert report.metrics()["FramesMediaError"] >= 2
        assert any(who(r) == [None] for r in records(lobby))

    def test_throttling_backs_off_and_keeps_the_newest_frames(self, lobby: Rig) -> None:
        detect = lobby.rekognition.responders["DetectFaces"]
        calls = {"n": 0}

        def throttled(params: dict[str, Any]) -> Any:
            calls["n"] += 1
            if 2 <= calls["n"] <= 4:
                return ("error", "ProvisionedThroughputExceededException")
            return detect(params)

        lobby.rekognition.responders["DetectFaces"] = throttled
        report = run(lobby, ["cam-1"], 58)
        metrics = report.metrics()
        assert metrics["RekognitionThrottled"] == 3
        assert metrics["FramesNotAnalysed"] >= 3
        got = records(lobby)
        stranger = [r.frame_time for r in got if who(r) == [None]]
        # The newest frames were analysed once throughput returned (the stranger left at 20 s;
        # after 2 records a stranger's track is analysed every 3 s).
        assert len(stranger) >= 2 and max(stranger) >= T0 + 17
        assert len({r.frame_key for r in got}) == len(got)

    def test_far_behind_skips_to_recent_video_and_reports_the_gap(self, lobby: Rig) -> None:
        store = lobby.store("old")
        old = store.acquire("cam-1", 0, 1)
        assert old is not None
        old.last_frame_ms = round((T0 - 600) * 1000)
        store.save(old, 0, 1, release=True)
        report = run(lobby, ["cam-1"], 20)
        assert report.metrics()["GapSeconds"] == pytest.approx(600 - 120, abs=1)

    def test_records_kinesis_refuses_wait_in_the_checkpoint_and_go_later(self, lobby: Rig) -> None:
        class Refusing(RecordWriter):
            refuse = True

            def put(self, partition_key: str, payloads: Sequence[bytes]) -> list[bool]:
                if self.refuse:
                    return [False] * len(payloads)
                return super().put(partition_key, payloads)

        writer = Refusing(lobby.kinesis, STREAM, lobby.clock.sleep)
        lobby.writer = writer
        first = run(lobby, ["cam-1"], 25, owner="inv-1")
        assert records(lobby) == []
        assert first.metrics()["RecordsPending"] > 0
        writer.refuse = False
        run(lobby, ["cam-1"], 20, owner="inv-2")
        got = records(lobby)
        assert len(got) >= first.metrics()["RecordsPending"]  # the queued ones arrived
        assert sum(1 for r in got if who(r) == [None]) >= RateRules().unknown_records
        assert len({r.frame_key for r in got}) == len(got)
        item = lobby.table.get_item(Key=item_key("cam-1"))["Item"]
        assert item["pending"] == []


class TestInfrastructureTrouble:
    def test_a_dynamodb_error_taking_the_lease_is_retried_next_tick(self, lobby: Rig) -> None:
        store = lobby.store("inv-1")
        real_acquire = store.acquire
        failures = {"left": 2}

        def flaky(camera_id: str, now_ms: int, until_ms: int) -> Any:
            if failures["left"]:
                failures["left"] -= 1
                raise ClientError(
                    {"Error": {"Code": "InternalServerError", "Message": "try again"}},
                    "UpdateItem",
                )
            return real_acquire(camera_id, now_ms, until_ms)

        store.acquire = flaky  # type: ignore[method-assign]
        deps = lobby.deps("inv-1")
        deps.store = store
        report = run_group(SamplerRequest(cameras=["cam-1"]), lobby.settings, deps, lambda: 60_000)
        assert report.cameras["cam-1"].served
        assert report.totals["cycle_errors"] == 2
        assert any(who(r) == [None] for r in records(lobby))

    def test_a_frame_rekognition_cannot_read_is_a_media_error(self, lobby: Rig) -> None:
        lobby.rekognition.responders["DetectFaces"] = lambda _p: ("error", "ImageTooLargeException")
        report = run(lobby, ["cam-1"], 20)
        assert report.metrics()["FramesMediaError"] >= 1
        assert records(lobby) == []

    def test_a_camera_id_that_cannot_be_a_stream_name_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            SamplerRequest(cameras=["lobby cam/1"])

    def test_a_camera_whose_lease_is_taken_away_is_left_alone_at_once(self, lobby: Rig) -> None:
        # Catching up 30 s: the stranger's whole visit is in the first cycle's window.
        old = lobby.store("old")
        behind = old.acquire("cam-1", 0, 1)
        assert behind is not None
        behind.last_frame_ms = round(T0 * 1000)
        old.save(behind, 0, 1, release=True)
        lobby.clock.advance(30)
        store = lobby.store("inv-1")
        real_save = store.save
        saves = {"n": 0}

        def save(checkpoint: Any, now_ms: int, until_ms: int, release: bool = False) -> bool:
            saves["n"] += 1
            if saves["n"] == 2:  # another invocation took the camera (e.g. our lease expired)
                return False
            return real_save(checkpoint, now_ms, until_ms, release)

        store.save = save  # type: ignore[method-assign]
        deps = lobby.deps("inv-1")
        deps.store = store
        report = run_group(SamplerRequest(cameras=["cam-1"]), lobby.settings, deps, lambda: 60_000)
        assert report.cameras["cam-1"].lease_lost
        assert saves["n"] == 2  # nothing more was saved for that camera
        written = report.cameras["cam-1"].records_written
        assert written == 2
        assert len(records(lobby)) == written  # and nothing more was written
