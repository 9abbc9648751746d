"""The audit access patterns on moto, over a few thousand incidents across sites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.audit.history import IncidentHistory
from facewatch.audit.lifecycle import Actor

from .conftest import (
    DAY,
    REGION,
    T0,
    TABLE,
    Seeded,
    create_table,
    seed,
)

pytestmark = pytest.mark.integration
SLACK = Actor(id="U042", name="alice", channel="slack", origin="slack:T1/C1")
BOB = Actor(id="U043", name="bob", channel="slack", origin="slack:T1/C1")


class Calls:
    """Records every DynamoDB operation the real (moto-backed) client makes."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[Any, Seeded]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client, seed(client, 3000)


def ids(records: Any) -> list[str]:
    return [r.incident_id for r in records]


def test_incidents_of_a_site_are_its_own_in_time_order(big: tuple[Any, Seeded]) -> None:
    client, seeded = big
    calls = Calls(client)
    got = list(IncidentHistory(client, TABLE).incidents(site="warehouse"))
    expected = sorted(seeded.where(site="warehouse"), key=lambda i: i["first"])
    assert ids(got) == [i["id"] for i in expected]
    assert len(got) > 400  # a real share of the 3000, not a trivial partition
    assert {r.site_id for r in got} == {"warehouse"}
    assert set(calls.names) == {"Query"}


def test_camera_and_time_range_is_half_open_and_paginates(big: tuple[Any, Seeded]) -> None:
    client, seeded = big
    calls = Calls(client)
    since, until = T0 + 5 * DAY, T0 + 12 * DAY
    history = IncidentHistory(client, TABLE, page_size=10)
    got = list(history.incidents(camera="hq-cam1", since=since, until=until))
    expected = sorted(
        seeded.where(camera="hq-cam1", since=since, until=until), key=lambda i: i["first"]
    )
    assert ids(got) == [i["id"] for i in expected]
    assert calls.names.count("Query") == len(expected) // 10 + 1  # every page, no Scan
    assert "Scan" not in calls.names


def test_status_in_range_newest_first(big: tuple[Any, Seeded]) -> None:
    client, seeded = big
    since, until = T0 + 2 * DAY, T0 + 6 * DAY
    got = list(
        IncidentHistory(client, TABLE).incidents(
            status="false_alarm", since=since, until=until, newest_first=True
        )
    )
    expected = sorted(
        seeded.where(status="false_alarm", since=since, until=until), key=lambda i: -i["first"]
    )
    assert ids(got) == [i["id"] for i in expected]
    assert {r.status for r in got} == {"false_alarm"}


def test_site_and_status_filter_within_the_site_partition(big: tuple[Any, Seeded]) -> None:
    client, seeded = big
    since = T0 + 20 * DAY
    got = list(IncidentHistory(client, TABLE).incidents(site="dock", status="open", since=since))
    assert sorted(ids(got)) == sorted(
        i["id"] for i in seeded.where(site="dock", status="open", since=since)
    )


def test_all_incidents_of_a_period_merge_the_status_partitions(big: tuple[Any, Seeded]) -> None:
    client, seeded = big
    calls = Calls(client)
    since, until = T0 + 10 * DAY, T0 + 13 * DAY
    got = list(IncidentHistory(client, TABLE).incidents(since=since, until=until))
    expected = sorted(seeded.where(since=since, until=until), key=lambda i: (i["first"], i["id"]))
    assert ids(got) == [i["id"] for i in expected]
    assert len(set(ids(got))) == len(got)
    assert calls.names == ["Query"] * 4  # one per status, none of the table read
