"""Pure parts of the sampler: settings, the motion gate, the record format."""

from __future__ import annotations

import json

import pytest

from facewatch.detections.records import FaceDetection, FaceSearchEntry, ProcessorRecord
from facewatch.sampler.motion import MotionGate, UndecodableFrameError, changed_fraction, signature
from facewatch.sampler.recordwriter import SOURCE, SOURCE_FIELD, build_record, encode_record
from facewatch.sampler.settings import SamplerSettings
from facewatch.settings import SettingsError
from tests.sampler.sampler_scene import Scene, SimClock, Visit

ARN = "arn:aws:kinesisvideo:ap-northeast-2:111122223333:stream/seoul-hq-dock-01/1764000000000"
BASE = {"DETECTIONS_STREAM_NAME": "s", "TABLE_NAME": "table", "COLLECTION_ID": "employees"}


class TestSettings:
    def test_sampling_interval_follows_fps_and_never_goes_below_200_ms(self) -> None:
        assert SamplerSettings.from_env({**BASE, "SAMPLER_FPS": "2"}).interval_ms == 500
        assert SamplerSettings.from_env({**BASE, "SAMPLER_FPS": "5"}).interval_ms == 200
        assert SamplerSettings.from_env({**BASE, "SAMPLER_FPS": "0.5"}).interval_ms == 2000

    def test_fps_above_what_getimages_allows_is_refused(self) -> None:
        with pytest.raises(SettingsError, match="SAMPLER_FPS"):
            SamplerSettings.from_env({**BASE, "SAMPLER_FPS": "6"})

    def test_analysis_is_never_more_frequent_than_sampling(self) -> None:
        settings = SamplerSettings.from_env({**BASE, "SAMPLER_FPS": "0.5"})
        assert settings.analysis_interval_ms == 2000
        settings = SamplerSettings.from_env({**BASE, "SAMPLER_MAX_ANALYSIS_FPS": "0.25"})
        assert settings.analysis_interval_ms == 4000

    def test_missing_required_settings_are_named(self) -> None:
        with pytest.raises(SettingsError, match="COLLECTION_ID"):
            SamplerSettings.from_env({"DETECTIONS_STREAM_NAME": "s", "TABLE_NAME": "table"})


class TestMotionGate:
    def scene(self) -> Scene:
        return Scene(clock=SimClock(0.0), visits=[Visit(enter=10.0, leave=20.0)])

    def test_an_empty_scene_does_not_change(self) -> None:
        scene = self.scene()
        gate = MotionGate((64, 36), 24, 0.004)
        gate.accept(gate.signature(scene.render(1.0, (128, 72))))
        assert not gate.changed(gate.signature(scene.render(2.0, (128, 72))))

    def test_a_person_entering_changes_the_scene(self) -> None:
        scene = self.scene()
        gate = MotionGate((64, 36), 24, 0.004)
        gate.accept(gate.signature(scene.render(1.0, (128, 72))))
        assert gate.changed(gate.signature(scene.render(10.5, (128, 72))))

    def test_without_a_reference_every_frame_is_changed(self) -> None:
        gate = MotionGate((64, 36), 24, 0.004)
        assert gate.changed(gate.signature(self.scene().render(1.0, (128, 72))))

    def test_slow_movement_accumulates_against_the_last_analysed_frame(self) -> None:
        # Each step is below the threshold against its neighbour, not against the reference.
        scene = Scene(clock=SimClock(0.0), visits=[Visit(enter=0.0, leave=4000.0)])
        grid = (64, 36)
        first = signature(scene.render(100.0, (128, 72)), grid)
        near = signature(scene.render(100.5, (128, 72)), grid)
        far = signature(scene.render(300.0, (128, 72)), grid)
        assert changed_fraction(first, near, grid, 24) < 0.004
        assert changed_fraction(first, far, grid, 24) >= 0.004

    def test_a_signature_is_small(self) -> None:
        assert len(signature(self.scene().render(1.0, (128, 72)), (64, 36))) == 64 * 36

    def test_bytes_that_are_not_an_image_are_reported(self) -> None:
        with pytest.raises(UndecodableFrameError):
            signature(b"not a jpeg", (64, 36))

    def test_signatures_of_another_grid_count_as_changed(self) -> None:
        assert changed_fraction(b"\0" * 4, b"\0" * 9, (2, 2), 24) == 1.0


class TestRecordFormat:
    def entry(self) -> FaceSearchEntry:
        return FaceSearchEntry.model_validate(
            {
                "DetectedFace": {
                    "BoundingBox": {"Width": 0.1, "Height": 0.2, "Left": 0.3, "Top": 0.4},
                    "Confidence": 99.1,
                },
                "MatchedFaces": [
                    {"Similarity": 97.0, "Face": {"FaceId": "f-1", "ExternalImageId": "EMP-1"}}
                ],
            }
        )

    def test_a_record_round_trips_through_the_processor_record_model(self) -> None:
        payload = encode_record(build_record(ARN, 1_795_000_004_500, [self.entry()]))
        record = ProcessorRecord.model_validate_json(payload)
        assert record.camera_id == "seoul-hq-dock-01"
        assert record.frame_time == pytest.approx(1_795_000_004.5)
        assert record.faces[0].MatchedFaces[0].Face.ExternalImageId == "EMP-1"
        assert record.StreamProcessorInformation is not None
        assert record.StreamProcessorInformation.Status == "RUNNING"

    def test_the_record_is_marked_with_its_source(self) -> None:
        document = json.loads(encode_record(build_record(ARN, 1_795_000_004_500, [])))
        assert document[SOURCE_FIELD] == SOURCE == "sampler"
        assert ProcessorRecord.model_validate(document).model_extra == {SOURCE_FIELD: SOURCE}

    def test_a_frame_without_faces_has_an_empty_face_search_response(self) -> None:
        document = json.loads(encode_record(build_record(ARN, 1_795_000_004_500, [])))
        assert document["FaceSearchResponse"] == []

    def test_the_same_frame_always_gives_the_same_frame_key(self) -> None:
        a = ProcessorRecord.model_validate_json(
            encode_record(build_record(ARN, 1_795_000_004_500, []))
        )
        b = ProcessorRecord.model_validate_json(
            encode_record(build_record(ARN, 1_795_000_004_500, []))
        )
        c = ProcessorRecord.model_validate_json(
            encode_record(build_record(ARN, 1_795_000_005_000, []))
        )
        assert a.frame_key == b.frame_key != c.frame_key

    def test_fields_we_do_not_know_are_omitted_not_null(self) -> None:
        entry = FaceSearchEntry(
            DetectedFace=FaceDetection.model_validate(
                {
                    "BoundingBox": {"Width": 0.1, "Height": 0.2, "Left": 0.3, "Top": 0.4},
                    "Confidence": 90,
                }
            )
        )
        text = encode_record(build_record(ARN, 1_795_000_004_500, [entry])).decode()
        assert "null" not in text
