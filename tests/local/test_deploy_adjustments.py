"""The template adjustments for moto, by resource type (pure: no emulator)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from facewatch_tools.local.deploy import adjust_for_moto, resolve_text, target_service

pytestmark = pytest.mark.usefixtures("no_network")

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "b"}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Archive": {
            "Type": "AWS::Events::Archive",
            "Properties": {
                "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                "EventPattern": {"source": ["x"]},
            },
        },
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": {"Ref": "Bus"},
                "EventPattern": {"source": ["facewatch"]},
                "Targets": [
                    {"Id": "fn", "Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "InputPath": "$.detail"},
                    {"Id": "topic", "Arn": {"Ref": "Topic"}},
                    {"Id": "logs", "Arn": {"Fn::GetAtt": ["Logs", "Arn"]}},
                ],
            },
        },
    }
}


def test_bus_refs_archive_patterns_and_relays() -> None:
    adjusted = adjust_for_moto(TEMPLATE, "s")
    resources = adjusted["Resources"]
    rule = resources["Rule"]["Properties"]
    assert rule["EventBusName"] == {"Fn::GetAtt": ["Bus", "Name"]}
    assert json.loads(resources["Archive"]["Properties"]["EventPattern"]) == {"source": ["x"]}
    arns = [t["Arn"] for t in rule["Targets"]]
    assert arns == [
        {"Fn::GetAtt": ["LocalRelayRule0", "Arn"]},
        {"Fn::GetAtt": ["LocalRelayRule1", "Arn"]},
        {"Fn::GetAtt": ["Logs", "Arn"]},  # moto delivers to log groups itself
    ]
    assert "InputPath" not in rule["Targets"][0]  # applied by the relay, not by moto
    options = json.loads(adjusted["Outputs"]["LocalRelayRule0Options"]["Value"])
    assert options["InputPath"] == "$.detail"
    assert resources["LocalTapBusRule"]["Properties"]["EventPattern"] == {"version": ["0"]}
    assert TEMPLATE["Resources"]["Rule"]["Properties"]["EventBusName"] == {
        "Ref": "Bus"
    }  # unchanged


def test_target_services_from_arns_and_intrinsics() -> None:
    resources = TEMPLATE["Resources"]
    assert target_service("arn:aws:sqs:r:1:q", resources) == "sqs"
    assert target_service({"Ref": "Topic"}, resources) == "sns"
    assert (
        target_service({"Fn::Sub": "arn:${AWS::Partition}:lambda:r:1:function:f"}, resources)
        == "lambda"
    )


def test_names_resolve_from_parameters() -> None:
    params = {"Environment": "dev", "AWS::StackName": "s"}
    assert (
        resolve_text({"Fn::Sub": "facewatch-${Environment}/slack"}, params) == "facewatch-dev/slack"
    )
    assert resolve_text({"Fn::Join": ["-", ["a", {"Ref": "Environment"}]]}, params) == "a-dev"
    assert resolve_text({"Fn::GetAtt": ["X", "Name"]}, params) is None
