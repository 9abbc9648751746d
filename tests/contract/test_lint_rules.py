"""The repo's own cfn-lint rules: clean on template.yaml, and each one fires on a bad template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from facewatch_tools.template import ROOT

pytestmark = pytest.mark.integration
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def lint(template: Path) -> str:
    result = subprocess.run(
        [
            str(CFN_LINT),
            "--regions",  # the tests' AWS_DEFAULT_REGION has no Rekognition streaming video
            "us-east-1",
            "--format",
            "parseable",
            "--append-rules",
            str(ROOT / "lint_rules"),
            "--",
            str(template),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def test_every_rule_fires_on_the_bad_template() -> None:
    output = lint(Path(__file__).parent / "bad_templates" / "violations.yaml")
    for rule in ("E9001", "E9002", "E9003", "E9004", "E9005", "E9006", "E9020"):
        assert rule in output, f"{rule} did not fire:\n{output}"
    assert "no OnFailure destination" in output
    assert "not encrypted at rest" in output
    assert "logs: name the function's own log group" in output  # logs on "*" (finding 3)
    assert "outside its own log group" in output
    assert "SilentAlarm: no AlarmActions (it notifies nobody)" in output


def test_project_templates_are_clean() -> None:
    templates = [ROOT / "template.yaml", *sorted(ROOT.glob("camera-template.yaml"))]
    for template in templates:
        assert lint(template) == "", template
