"""What the code relies on in template.yaml, asserted from the template itself."""

from __future__ import annotations

import re
import tomllib

import pytest

from facewatch.settings import FaceEventsSettings
from facewatch_tools.template import ROOT, main_template, parameter_defaults, resource


def test_stream_mapping_is_safe_for_poison_records_and_redelivery() -> None:
    props = resource("FaceEventsStreamMapping")["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 <= props["MaximumRetryAttempts"] <= 100  # bounded (lint_rules E9001)
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 86400
    assert props["MaximumBatchingWindowInSeconds"] <= 5  # alerts within seconds
    # The per-shard redelivery watermark in facewatch.detections.incidents needs in-order shards.
    assert props["ParallelizationFactor"] == 1
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["StreamFailureQueue", "Arn"]
    }


def test_table_keys_are_what_the_store_writes() -> None:
    props = resource("IncidentsTable")["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]]
        for i in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "ByCamera": ["GSI1PK", "GSI1SK"],
        "BySite": ["GSI2PK", "GSI2SK"],
        "ByStatus": ["GSI3PK", "GSI3SK"],
        "PendingAlerts": ["GSI4PK", "GSI4SK"],
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_every_face_events_setting_is_a_template_parameter_with_the_same_default() -> None:
    env = resource("FaceEventsFunction")["Properties"]["Environment"]["Variables"]
    defaults = parameter_defaults()
    for name, field in FaceEventsSettings.model_fields.items():
        assert field.alias in env, f"{field.alias} missing from the function environment"
        value = env[field.alias]
        if field.is_required():
            continue
        assert isinstance(value, dict) and "Ref" in value, name
        if isinstance(field.default, bool):
            assert defaults[value["Ref"]] == str(field.default).lower(), field.alias
        elif isinstance(field.default, str):
            assert defaults[value["Ref"]] == field.default, field.alias
        else:
            assert float(defaults[value["Ref"]]) == float(field.default), field.alias


def test_functions_run_python313_on_arm64_with_tracing() -> None:
    globals_ = main_template()["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"


def test_layer_requirements_match_the_project_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {re.split(r"[\[=]", p)[0].lower(): p for p in project}
    layer = (ROOT / "layers" / "facewatch" / "requirements.txt").read_text().splitlines()
    for line in (line for line in layer if line and not line.startswith("#")):
        name = re.split(r"[\[=]", line)[0].lower()
        assert pins.get(name) == line, f"{line} differs from pyproject.toml"


@pytest.mark.integration
def test_template_passes_cfn_lint() -> None:
    from cfnlint.api import lint_file  # noqa: PLC0415 - slow import, only here

    matches = lint_file(ROOT / "template.yaml")
    assert [str(m) for m in matches] == []
