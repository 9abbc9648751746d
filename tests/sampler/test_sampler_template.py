"""The sampler's part of template.yaml: least privilege, logs, schedule, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str
from facewatch.sampler.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


def template() -> dict[str, Any]:
    document, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems
    return dict(document)


def sampler() -> dict[str, Any]:
    resource: dict[str, Any] = template()["Resources"]["SamplerFunction"]
    return resource


def statements() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = sampler()["Properties"]["Policies"][0]["Statement"]
    return result


def test_only_detect_faces_has_a_wildcard_resource() -> None:
    wild = [s["Sid"] for s in statements() if s["Resource"] == "*"]
    assert wild == ["DetectFaces"]


def test_face_search_is_limited_to_the_employee_collection() -> None:
    search = next(s for s in statements() if s["Sid"] == "SearchEmployees")
    assert search["Action"] == "rekognition:SearchFacesByImage"
    assert "collection/${CollectionId}" in str(search["Resource"])


def test_checkpoint_writes_are_limited_to_camera_items() -> None:
    checkpoints = next(s for s in statements() if s["Sid"] == "Checkpoints")
    assert checkpoints["Action"] == "dynamodb:UpdateItem"
    assert checkpoints["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "CAMERA#*"
    ]


def test_the_function_has_its_own_encrypted_log_group_with_retention() -> None:
    resources = template()["Resources"]
    group = resources["SamplerLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert sampler()["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "SamplerLogGroup"}


def test_environment_names_match_the_settings_model() -> None:
    variables = sampler()["Properties"]["Environment"]["Variables"]
    assert set(variables) <= set(ENVIRONMENT.values())
    assert variables["SAMPLER_FPS"] == {"Ref": "SamplerFps"}


def test_the_run_fits_in_the_timeout_with_the_stop_margin() -> None:
    properties = sampler()["Properties"]
    assert (
        float(properties["Environment"]["Variables"]["SAMPLER_RUN_SECONDS"]) + 8
        < properties["Timeout"]
    )


def test_the_schedule_is_off_without_cameras() -> None:
    schedule = sampler()["Properties"]["Events"]["DefaultGroup"]["Properties"]
    assert schedule["State"] == {"Fn::If": ["HasSamplerCameras", "ENABLED", "DISABLED"]}
