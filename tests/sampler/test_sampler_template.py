"""The sampler's part of template.yaml: least privilege, logs, schedule, settings."""

from __future__ import annotations

from typing import Any

from facewatch.sampler.settings import SamplerSettings
from facewatch_tools.template import parameter_defaults, resource


def sampler() -> dict[str, Any]:
    return resource("SamplerFunction")


def statements() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = sampler()["Properties"]["Policies"][0]["Statement"]
    return result


def test_only_detect_faces_has_a_wildcard_resource() -> None:
    wild = [s["Sid"] for s in statements() if s.get("Resource") == "*"]
    assert wild == ["DetectFaces"]


def test_face_search_is_limited_to_the_employee_collection() -> None:
    search = next(s for s in statements() if s["Sid"] == "SearchEmployees")
    assert search["Action"] == "rekognition:SearchFacesByImage"
    assert str(search["Resource"]["Fn::Sub"]).endswith(":collection/${CollectionId}")


def test_checkpoint_writes_are_limited_to_camera_items() -> None:
    checkpoints = next(s for s in statements() if s["Sid"] == "Checkpoints")
    assert checkpoints["Action"] == "dynamodb:UpdateItem"
    assert checkpoints["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "CAMERA#*"
    ]


def test_the_function_has_its_own_encrypted_log_group_with_retention() -> None:
    group = resource("SamplerLogGroup")["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert sampler()["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "SamplerLogGroup"}


def test_environment_names_match_the_settings_model() -> None:
    variables = sampler()["Properties"]["Environment"]["Variables"]
    aliases = {f.alias for f in SamplerSettings.model_fields.values() if f.alias}
    assert set(variables) <= aliases
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


def test_the_settings_defaults_match_the_template_parameters() -> None:
    variables = sampler()["Properties"]["Environment"]["Variables"]
    defaults = parameter_defaults()
    fps = SamplerSettings.model_fields["fps"].default
    assert float(defaults[variables["SAMPLER_FPS"]["Ref"]]) == fps
