"""The audit section of template.yaml agrees with the code that runs in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from facewatch.audit.lifecycle import STATUS_CHANGED_DETAIL_TYPE, StatusChangedDetail
from facewatch.settings import (
    ClipLinksSettings,
    EnvSettings,
    SlackActionsSettings,
    SlackClicksSettings,
)
from facewatch_tools.template import ROOT, main_template, resource
from tests.conftest import load_event

FUNCTIONS: dict[str, tuple[str, type[EnvSettings]]] = {
    "SlackActionsFunction": ("slack-actions", SlackActionsSettings),
    "ClipLinksFunction": ("clip-links", ClipLinksSettings),
    "SlackClicksFunction": ("slack-clicks", SlackClicksSettings),
}


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in function["Properties"]["Policies"] for s in p["Statement"]]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_conventions(name: str) -> None:
    suffix, settings = FUNCTIONS[name]
    props = resource(name)["Properties"]
    assert props["FunctionName"] == {"Fn::Sub": f"facewatch-${{Environment}}-{suffix}"}
    log_group = resource(props["LoggingConfig"]["LogGroup"]["Ref"])["Properties"]
    assert log_group["LogGroupName"] == {
        "Fn::Sub": f"/aws/lambda/facewatch-${{Environment}}-{suffix}"
    }
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Every required setting is provided by the template (the cold start would fail otherwise).
    required = {f.alias for f in settings.model_fields.values() if f.is_required()}
    assert required <= set(props["Environment"]["Variables"])
    for statement in _statements(resource(name)):
        assert statement.get("Resource") != "*", statement["Sid"]
    events = list(props.get("Events", {}).values())
    assert all(
        e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "AuditApi"} for e in events
    )


def test_put_events_is_limited_to_our_source_and_detail_type() -> None:
    (statement,) = [
        s for s in _statements(resource("SlackClicksFunction")) if s["Action"] == "events:PutEvents"
    ]
    assert statement["Condition"] == {
        "StringEquals": {
            "events:source": "facewatch",
            "events:detail-type": STATUS_CHANGED_DETAIL_TYPE,
        }
    }
    front = _statements(resource("SlackActionsFunction"))
    assert not [s for s in front if "events:PutEvents" in s["Action"]]  # internet-facing


def test_api_logs_access_without_query_strings_and_is_throttled() -> None:
    props = resource("AuditApi")["Properties"]
    assert "$context.routeKey" in props["AccessLogSettings"]["Format"]
    assert "$context.path" not in props["AccessLogSettings"]["Format"]
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    log_group = resource("AuditApiLogGroup")["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_secrets_and_topic_are_encrypted_and_the_slack_secret_has_no_value() -> None:
    slack = resource("SlackSigningSecret")["Properties"]
    assert "SecretString" not in slack and "GenerateSecretString" not in slack
    assert "GenerateSecretString" in resource("ClipLinkKeySecret")["Properties"]
    for name in ("SlackSigningSecret", "ClipLinkKeySecret"):
        assert resource(name)["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    assert resource("EscalationTopic")["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}


def test_outputs_for_the_notifiers_and_slack() -> None:
    outputs = main_template()["Outputs"]
    for name in (
        "ApiUrl",
        "ClipLinkBaseUrl",
        "ClipLinkKeySecretArn",
        "SlackActionsUrl",
        "EscalationTopicArn",
    ):
        assert name in outputs
    assert outputs["ClipLinkKeySecretArn"]["Value"] == {"Ref": "ClipLinkKeySecret"}


def test_status_changed_sample_is_valid_and_the_schema_names_the_wire_fields() -> None:
    event = load_event("status_changed_event.json")
    assert event["source"] == "facewatch"
    assert event["detail-type"] == STATUS_CHANGED_DETAIL_TYPE
    detail = StatusChangedDetail.model_validate(event["detail"])
    assert (detail.previous_status, detail.status, detail.actor.channel) == (
        "open",
        "acknowledged",
        "slack",
    )
    schema = json.loads((ROOT / "schemas" / "incident-status-changed.schema.json").read_text())
    wire = json.loads(detail.model_dump_json(by_alias=True))
    assert set(schema["required"]) <= set(wire)
    assert set(schema["properties"]) == set(wire)
