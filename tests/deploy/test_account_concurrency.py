"""The local deploy refuses reserved concurrency the way Lambda does on a new account."""

from __future__ import annotations

from typing import Any

import pytest

from facewatch_tools.local.deploy import DeployError, check_concurrency
from facewatch_tools.template import ROOT, load_template

pytestmark = pytest.mark.usefixtures("no_network")


def functions(*reserved: int | None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for index, value in enumerate(reserved):
        props = {} if value is None else {"ReservedConcurrentExecutions": value}
        resources[f"Fn{index}"] = {"Type": "AWS::Lambda::Function", "Properties": props}
    return {"Resources": resources}


def test_a_new_account_refuses_any_reservation() -> None:
    with pytest.raises(DeployError, match=r"Fn1: .*below its minimum value of \[10\]"):
        check_concurrency(functions(None, 1), 10)


def test_a_large_account_keeps_100_unreserved() -> None:
    check_concurrency(functions(1, 1), 1000)
    check_concurrency(functions(50), 150)
    with pytest.raises(DeployError, match=r"minimum value of \[100\]"):
        check_concurrency(functions(50, 1), 150)


def test_sam_globals_reservations_count_for_every_function() -> None:
    template = functions(None, None)
    template["Resources"]["Fn0"]["Type"] = "AWS::Serverless::Function"
    template["Globals"] = {"Function": {"ReservedConcurrentExecutions": 1}}
    with pytest.raises(DeployError, match="Fn0"):
        check_concurrency(template, 10)


def test_the_shipped_template_deploys_to_a_new_account() -> None:
    check_concurrency(load_template(ROOT / "template.yaml"), 10)
