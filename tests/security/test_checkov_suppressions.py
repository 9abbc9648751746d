"""Finding 11: every checkov suppression names a check that exists and gives a true reason."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from typing import Any

import pytest

from facewatch_tools.template import ROOT, load_template

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
TEMPLATES = ("template.yaml", "camera-template.yaml")
# Reasons the review found untrue for this stack.
FALSE_REASONS = (
    "CloudTrail data events are the audit trail",  # the stack creates no data events
    "synchronously by CloudFormation",  # custom resources are invoked asynchronously
)


def _skips() -> list[tuple[str, str, str, str]]:
    found = []
    for name in TEMPLATES:
        for logical, resource in load_template(ROOT / name)["Resources"].items():
            meta: dict[str, Any] = resource.get("Metadata", {}).get("checkov", {})
            for skip in meta.get("skip", []):
                found.append((name, logical, skip["id"], skip.get("comment", "")))
    return found


@cache
def _cloudformation_checks() -> frozenset[str]:
    listing = subprocess.run(
        [str(CHECKOV), "--list", "--framework", "cloudformation"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    return frozenset(re.findall(r"\bCKV2?_AWS_\d+\b", listing))


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is installed by `make validate`")
@pytest.mark.parametrize(("template", "resource", "check", "comment"), _skips())
def test_every_suppressed_check_exists_for_cloudformation(
    template: str, resource: str, check: str, comment: str
) -> None:
    assert check in _cloudformation_checks(), f"{template} {resource}: {check} is never run"


@pytest.mark.parametrize(("template", "resource", "check", "comment"), _skips())
def test_every_suppression_has_a_reason_and_none_is_known_false(
    template: str, resource: str, check: str, comment: str
) -> None:
    assert len(comment) > 20, f"{resource} {check}: no reason"
    assert not [r for r in FALSE_REASONS if r in comment], f"{resource} {check}: {comment}"
