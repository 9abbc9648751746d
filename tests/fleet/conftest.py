"""Fixtures for the fleet tests: moto tables built from template.yaml's own definition."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch_tools import template as facewatch_template

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TABLE = "facewatch-test-incidents"
# The shipped inventory (all samplers: what a new account can run), and the same with the lobby
# on a stream processor (an account that still has them).
# As a one-region deployment (no site names a region): tests/regions covers several.
INVENTORY = re.sub(r"\n    region: .*", "", (ROOT / "cameras.yaml").read_text())
WITH_PROCESSOR = re.sub(
    r"(    display_name: Lobby entrance\n)(?:    #.*\n)*    detector: sampler",
    r"\1    detector: stream-processor",
    INVENTORY,
)
assert WITH_PROCESSOR != INVENTORY, "cameras.yaml: the lobby is no longer a sampler camera"


def load_template(name: str) -> dict[str, Any]:
    return facewatch_template.load_template(ROOT / name)


def table_definition(table_name: str = TABLE) -> dict[str, Any]:
    """CreateTable arguments from IncidentsTable's key schema and indexes (no drift possible)."""
    props = load_template("template.yaml")["Resources"]["IncidentsTable"]["Properties"]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def table(aws: None) -> Any:
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    dynamodb.create_table(**table_definition())
    return dynamodb.Table(TABLE)


class Clock:
    """An injected clock: tests move time, nothing sleeps."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now
