"""moto table and Slack world for the security tests (the same builders as tests/audit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.audit.conftest import T0, TABLE, aws, dynamodb  # noqa: F401 - fixtures
from tests.slack_world import World, incident_for, make_world

NOW = T0 + 120


@pytest.fixture
def world(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # noqa: F811
    yield make_world(
        dynamodb, monkeypatch, table=TABLE, now=NOW, incident_item=incident_for(dynamodb, TABLE, T0)
    )


def table_items(dynamodb: Any) -> list[dict[str, Any]]:  # noqa: F811
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items
