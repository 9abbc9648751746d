"""Findings 3, 5, 6, 7: the SAM-transformed template grants each role only its own things.

The template is transformed by the SAM translator (what CloudFormation deploys), so the roles
SAM generates and the managed policies it attaches are checked too, not only what we wrote.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch_tools.local.deploy import transform
from facewatch_tools.template import ROOT, load_template, main_template, parameter_defaults

REGION = "ap-northeast-2"
BASIC_ROLE = "AWSLambdaBasicExecutionRole"
PUBLISHERS = {  # role -> the only detail-types it may put on the bus
    # live growth (Incident Updated) only from face_events: the sweeper publishes what stayed
    # outstanding, never an update
    "FaceEventsFunctionRole": {"Unknown Face Detected", "Incident Merged", "Incident Updated"},
    "AlertSweeperFunctionRole": {"Unknown Face Detected", "Incident Merged"},
    "WatchdogFunctionRole": {"Camera Health Changed"},
    "ProcessorControlFunctionRole": {"Camera Health Changed"},
    "SamplerFunctionRole": {"Camera Health Changed"},
    "SlackClicksFunctionRole": {"Incident Status Changed"},
    "AlertTickerFunctionRole": {"Incident Status Changed"},  # auto-escalation
}


@cache
def transformed() -> dict[str, Any]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        return transform(main_template(), parameter_defaults(), REGION, iam, "artifacts")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _roles() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in transformed()["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            yield name, resource["Properties"]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for policy in role.get("Policies", [])
        for s in _list(policy["PolicyDocument"]["Statement"])
    ]


def _functions() -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in transformed()["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }


def _sub_text(value: Any) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else str(value)


# ---- finding 3: logs --------------------------------------------------------------------------
@pytest.mark.parametrize("function", sorted(_functions()))
def test_each_function_may_write_only_its_own_log_group(function: str) -> None:
    props = _functions()[function]
    role_name = props["Role"]["Fn::GetAtt"][0]
    role = transformed()["Resources"][role_name]["Properties"]
    group = props["LoggingConfig"]["LogGroup"]["Ref"]
    statements = _statements(role)
    for statement in statements:  # nothing we wrote allows logs on "*"
        if statement["Effect"] == "Allow" and "*" in _list(statement.get("Resource", [])):
            assert not [a for a in _list(statement["Action"]) if a.startswith("logs:")]
    (deny,) = [s for s in statements if s.get("Sid") == "OwnLogGroupOnly"]
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) >= {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    texts = [_sub_text(r) for r in deny["NotResource"]]
    assert texts == [
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{group}}}",
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{group}}}:*",
    ]
    # What SAM attached besides: the basic execution role, now cut down by the Deny above.
    managed = [str(a) for a in role.get("ManagedPolicyArns", [])]
    assert all(BASIC_ROLE in a or "XRay" in a or "Xray" in a for a in managed), managed


# ---- findings 5 and 6: the bus ---------------------------------------------------------------
def _bus_policies() -> list[dict[str, Any]]:
    return [
        r["Properties"]["Statement"]
        for r in transformed()["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
    ]


def _principals(condition: dict[str, Any], operator: str) -> set[str]:
    return {
        v["Fn::GetAtt"][0] for v in _list(condition.get(operator, {}).get("aws:PrincipalArn", []))
    }


def test_bus_policy_lets_only_the_stacks_roles_put_facewatch_events() -> None:
    (source_rule,) = [
        s for s in _bus_policies() if s["Condition"].get("StringEquals", {}).get("events:source")
    ]
    assert source_rule["Effect"] == "Deny" and source_rule["Principal"] == "*"
    assert source_rule["Condition"]["StringEquals"]["events:source"] == "facewatch"
    assert _principals(source_rule["Condition"], "ArnNotEquals") == set(PUBLISHERS)


@pytest.mark.parametrize("role_name", sorted(PUBLISHERS))
def test_each_publisher_only_its_detail_types_in_the_bus_policy_and_its_own(role_name: str) -> None:
    rules = [s for s in _bus_policies() if role_name in _principals(s["Condition"], "ArnEquals")]
    assert len(rules) == 1
    allowed = rules[0]["Condition"]["StringNotEquals"]["events:detail-type"]
    assert set(_list(allowed)) == PUBLISHERS[role_name]
    role = transformed()["Resources"][role_name]["Properties"]
    (put,) = [s for s in _statements(role) if "events:PutEvents" in _list(s["Action"])]
    assert (
        set(_list(put["Condition"]["StringEquals"]["events:detail-type"])) == PUBLISHERS[role_name]
    )


def test_no_other_role_may_put_events() -> None:
    for name, role in _roles():
        if name in PUBLISHERS:
            continue
        for statement in _statements(role):
            if statement["Effect"] == "Allow":
                assert "events:PutEvents" not in _list(statement["Action"]), name


# ---- finding 7: KVS and DynamoDB -----------------------------------------------------------
def test_every_kvs_permission_is_limited_to_this_environments_camera_streams() -> None:
    seen = 0
    for name, role in _roles():
        for statement in _statements(role):
            actions = _list(statement["Action"])
            if statement["Effect"] != "Allow" or not any(
                a.startswith("kinesisvideo:") for a in actions
            ):
                continue
            seen += 1
            tag = statement["Condition"]["StringEquals"]["aws:ResourceTag/facewatch:environment"]
            assert tag == {"Ref": "Environment"}, name
    assert seen >= 6


def test_camera_streams_carry_the_environment_tag() -> None:
    camera = load_template(ROOT / "camera-template.yaml")
    (stream,) = [
        r for r in camera["Resources"].values() if r["Type"] == "AWS::KinesisVideo::Stream"
    ]
    tags = {t["Key"]: t["Value"] for t in stream["Properties"]["Tags"]}
    assert tags["facewatch:environment"] == {"Ref": "Environment"}


def test_watchdog_table_access_is_limited_by_leading_keys() -> None:
    role = transformed()["Resources"]["WatchdogFunctionRole"]["Properties"]
    for statement in _statements(role):
        actions = [a for a in _list(statement["Action"]) if a.startswith("dynamodb:")]
        if statement["Effect"] != "Allow" or not actions:
            continue
        if actions == ["dynamodb:Query"]:
            (resource,) = _list(statement["Resource"])
            assert _sub_text(resource).endswith("/index/ByCamera")  # the registry listing
            continue
        keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert not [k for k in keys if fnmatch.fnmatch("INCIDENT#inc-1", k)]
        assert fnmatch.fnmatch("CAMERA#hq-lobby", keys[0])


def test_only_the_slack_front_function_may_record_clicks() -> None:
    (policy,) = [
        r["Properties"]
        for r in transformed()["Resources"].values()
        if r["Type"] == "AWS::SQS::QueuePolicy"
        and r["Properties"]["Queues"] == [{"Ref": "SlackClicksQueue"}]
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "sqs:SendMessage"
    assert _principals(statement["Condition"], "ArnNotEquals") == {"SlackActionsFunctionRole"}
    front = transformed()["Resources"]["SlackActionsFunctionRole"]["Properties"]
    allowed = {a for s in _statements(front) if s["Effect"] == "Allow" for a in _list(s["Action"])}
    assert not [a for a in allowed if a.startswith(("events:", "sns:"))]  # internet-facing
