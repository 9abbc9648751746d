"""Contracts: camera stacks map streams exactly like the main stack; the health event schema."""

from __future__ import annotations

import json
from typing import Any

from facewatch.fleet.health import DETAIL_TYPE, SOURCE, CameraHealthChanged, json_schema

from .conftest import ROOT, load_template

MAIN = load_template("template.yaml")
CAMERA = load_template("camera-template.yaml")


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def export_value(name_suffix: str) -> Any:
    for output in MAIN["Outputs"].values():
        export = output.get("Export", {}).get("Name", {})
        if export == {"Fn::Sub": f"${{AWS::StackName}}-{name_suffix}"}:
            return output["Value"]
    raise AssertionError(f"main stack exports no {name_suffix}")


def test_camera_mapping_has_exactly_the_main_mappings_settings() -> None:
    main = MAIN["Resources"]["FaceEventsStreamMapping"]["Properties"]
    camera = CAMERA["Resources"]["DetectionsMapping"]["Properties"]
    targets = {"FunctionName", "EventSourceArn", "DestinationConfig"}
    assert set(main) == set(camera)
    assert {k: v for k, v in main.items() if k not in targets} == {
        k: v for k, v in camera.items() if k not in targets
    }
    # Same function and same failure queue, reached through the main stack's exports.
    assert camera["FunctionName"] == {
        "Fn::ImportValue": {"Fn::Sub": "${MainStack}-FaceEventsFunctionArn"}
    }
    assert export_value("FaceEventsFunctionArn") == {"Fn::GetAtt": ["FaceEventsFunction", "Arn"]}
    assert main["FunctionName"] == {"Ref": "FaceEventsFunction"}
    assert camera["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::ImportValue": {"Fn::Sub": "${MainStack}-StreamFailureQueueArn"}
    }
    assert main["DestinationConfig"]["OnFailure"]["Destination"] == export_value(
        "StreamFailureQueueArn"
    )


def test_camera_streams_are_encrypted_and_retain_video() -> None:
    video = CAMERA["Resources"]["VideoStream"]["Properties"]
    assert video["DataRetentionInHours"] == {"Ref": "RetentionHours"}
    assert CAMERA["Parameters"]["RetentionHours"]["MinValue"] >= 24
    assert video["KmsKeyId"] == {"Ref": "VideoKmsKeyId"}
    detections = CAMERA["Resources"]["DetectionStream"]["Properties"]
    assert detections["StreamEncryption"]["EncryptionType"] == "KMS"
    assert detections["Name"] == {"Fn::Sub": "facewatch-${Environment}-det-${CameraId}"}


def test_processor_role_has_confused_deputy_conditions() -> None:
    (statement,) = CAMERA["Resources"]["ProcessorRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "rekognition.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert (
        "streamprocessor/${ProcessorName}"
        in statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    )


def test_processor_control_is_served_by_the_main_stack() -> None:
    processor = CAMERA["Resources"]["StreamProcessor"]
    # A custom resource, never AWS::Rekognition::StreamProcessor: CloudFormation would replace
    # that new-before-old on the same streams, which Rekognition refuses.
    assert processor["Type"] == "Custom::StreamProcessor"
    assert not [r for r in CAMERA["Resources"].values() if r["Type"].startswith("AWS::Rekognition")]
    props = processor["Properties"]
    assert props["ServiceToken"] == {
        "Fn::ImportValue": {"Fn::Sub": "${MainStack}-ProcessorControlFunctionArn"}
    }
    assert export_value("ProcessorControlFunctionArn") == {
        "Fn::GetAtt": ["ProcessorControlFunction", "Arn"]
    }
    assert (props["CollectionId"], props["FaceMatchThreshold"]) == (
        {"Ref": "CollectionId"},
        {"Ref": "FaceMatchThreshold"},
    )
    assert props["VideoStreamArn"] == {"Fn::GetAtt": ["VideoStream", "Arn"]}
    assert props["DataStreamArn"] == {"Fn::GetAtt": ["DetectionStream", "Arn"]}
    assert props["RoleArn"] == {"Fn::GetAtt": ["ProcessorRole", "Arn"]}
    assert props["ProcessorName"] == {"Ref": "ProcessorName"}


def test_watchdog_is_scheduled_and_knows_the_offline_window() -> None:
    fn = MAIN["Resources"]["WatchdogFunction"]["Properties"]
    assert fn["Events"]["Tick"]["Type"] == "Schedule"
    assert fn["Environment"]["Variables"]["CAMERA_OFFLINE_MINUTES"] == {
        "Ref": "CameraOfflineMinutes"
    }
    assert MAIN["Parameters"]["CameraOfflineMinutes"]["Default"] == 15
    assert "ReservedConcurrentExecutions" not in fn  # a lease instead (new accounts refuse it)


def test_health_event_schema_is_stable_and_the_sample_validates() -> None:
    stored = json.loads((ROOT / "tests/fleet/data/camera_health_changed.schema.json").read_text())
    assert json_schema() == stored, "schema changed: bump the version and tell the consumers"
    sample = CameraHealthChanged.model_validate_json(
        (ROOT / "tests/fleet/data/health_event.json").read_text()
    )
    entry = sample.put_events_entry("facewatch-dev")
    assert (
        (entry["Source"], entry["DetailType"])
        == (SOURCE, DETAIL_TYPE)
        == ("facewatch", "Camera Health Changed")
    )
    assert json.loads(entry["Detail"])["version"] == "1"
