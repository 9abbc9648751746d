from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from facewatch_tools.local import LocalStack
from tests.conftest import FIXTURES

LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_NAMES = [
    "unknown-face.json",
    "unknown-face-exponent-timestamps.json",
    "employee-face.json",
    "employee-and-unknown.json",
    "no-face.json",
]


def sample_lines() -> list[str]:
    """The AWS sample records, one a line, exactly as written (exponent timestamps kept)."""
    return [
        json.dumps(json.loads((FIXTURES / "records" / name).read_text()))
        if "exponent" not in name
        else " ".join((FIXTURES / "records" / name).read_text().split())
        for name in SAMPLE_NAMES
    ]


@pytest.fixture(scope="module")
def facewatch_stack() -> Iterator[LocalStack]:
    """The project's template on a local stack, shared by a module's tests."""
    with LocalStack() as stack:
        yield stack
