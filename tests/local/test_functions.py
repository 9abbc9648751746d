"""Functions run in-process but apart: each its own modules, environment and cold start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from facewatch_tools.local import LocalStack

pytestmark = pytest.mark.integration

APP = """
import os
from dataclasses import dataclass

import helper

COLD_STARTS = [os.environ["WHO"]]


@dataclass
class Out:
    name: str


def lambda_handler(event, context):
    import helper as late  # a lazy import finds the function's own module too
    return {"out": Out(helper.NAME + late.NAME).name, "cold": COLD_STARTS,
            "env": os.environ.get("WHO"), "fn": context.function_name}
"""

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.13, CodeUri: functions/a, Handler: app.lambda_handler,
                 Environment: {Variables: {WHO: a}}}
  B:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.13, CodeUri: functions/b, Handler: app.lambda_handler,
                 Environment: {Variables: {WHO: b}}}
"""


def test_two_functions_with_same_named_modules_stay_apart(tmp_path: Path) -> None:
    for name in ("a", "b"):
        code = tmp_path / "functions" / name
        code.mkdir(parents=True)
        (code / "helper.py").write_text(f"NAME = {name!r}\n")
        (code / "app.py").write_text(APP)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    with LocalStack(stack_name="apart", template_path=tmp_path / "template.yaml") as stack:
        first = stack.invoke("A", {})
        assert stack.invoke("B", {})["out"] == "bb"
        again = stack.invoke("A", {})
    assert first["out"] == again["out"] == "aa"
    assert again["cold"] == ["a"]  # one cold start, kept between invocations
    assert again["env"] == "a" and again["fn"].startswith("apart-A")
    assert "helper" not in sys.modules
    assert "WHO" not in os.environ  # the caller's environment is back
