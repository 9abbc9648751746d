"""Single-run ticks without reserved concurrency: the lease item on a moto table, and the two
scheduled handlers that take it (watchdog, alert sweeper)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from facewatch.fleet.watchdog import Watchdog
from facewatch.lease import TickLease
from tests.conftest import FACE_EVENTS_ENV, load_event, load_function
from tests.fleet.conftest import table_definition
from tests.fleet.fakes import FakeFragments, FakeProcessors, FakePublisher, FakeStore
from tests.integration.test_face_events_moto import Context

TABLE = "facewatch-test-incidents"
REGION = "ap-northeast-2"


class Clock:
    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(**table_definition(TABLE))
        yield ddb


def lease(client: Any, owner: str, clock: Clock, seconds: float = 60) -> TickLease:
    return TickLease(client, TABLE, "watchdog", owner, duration_seconds=seconds, clock=clock)


def test_a_second_run_is_refused_while_the_first_holds_the_lease(client: Any) -> None:
    clock = Clock()
    first, second = lease(client, "a", clock), lease(client, "b", clock)
    assert first.acquire()
    assert not second.acquire()
    clock.now += 59
    assert not second.acquire()
    assert first.acquire()  # the holder renews


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_release_it(client: Any) -> None:
    clock = Clock()
    first, second = lease(client, "a", clock), lease(client, "b", clock)
    assert first.acquire()
    clock.now += 61  # the first run crashed: its timeout passed
    assert second.acquire()
    first.release()  # late: must not free the lease the second run holds
    assert not first.acquire()


def test_release_frees_the_lease_for_the_next_tick(client: Any) -> None:
    clock = Clock()
    first, second = lease(client, "a", clock), lease(client, "b", clock)
    assert first.acquire()
    first.release()
    assert second.acquire()
    key = {"PK": {"S": "LEASE#watchdog"}, "SK": {"S": "LEASE"}}
    item = client.get_item(TableName=TABLE, Key=key)
    assert item["Item"]["leaseOwner"] == {"S": "b"}
    assert int(item["Item"]["expiresAt"]["N"]) > clock.now  # removed later by the table's TTL


def _watchdog() -> Watchdog:
    return Watchdog(
        fragments=FakeFragments(),
        processors=FakeProcessors(),
        store=FakeStore(),
        publisher=FakePublisher(),
        workers=1,
    )


class NoCameras:
    def cameras(self) -> list[Any]:
        return []


def test_watchdog_skips_its_tick_while_another_holds_the_lease(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_function("watchdog", {"TABLE_NAME": TABLE, "EVENT_BUS_NAME": "b"}, monkeypatch)
    clock = Clock()
    assert lease(client, "other", clock, 120).acquire()
    now = datetime.fromtimestamp(clock.now, UTC)
    skipped = app.handle_once(lease(client, "me", clock, 120), _watchdog(), NoCameras(), now)
    assert skipped == {"skipped": True}
    clock.now += 121
    ran = app.handle_once(lease(client, "me", clock, 120), _watchdog(), NoCameras(), now)
    assert ran["cameras"] == 0
    assert lease(client, "next", clock, 120).acquire()  # released after the tick


def test_alert_sweeper_skips_its_sweep_while_another_holds_the_lease(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_function("alert_sweeper", FACE_EVENTS_ENV, monkeypatch)
    clock = Clock()
    held = TickLease(client, TABLE, "alert-sweeper", "other", duration_seconds=60, clock=clock)
    assert held.acquire()
    mine = TickLease(client, TABLE, "alert-sweeper", "me", duration_seconds=60, clock=clock)

    result = app.lambda_handler(load_event("alert_sweeper.json"), Context(), lease=mine)
    assert result == {"published": 0, "skipped": 1}


def test_no_function_reserves_concurrency() -> None:
    from tests.fleet.conftest import load_template  # noqa: PLC0415

    resources = load_template("template.yaml")["Resources"]
    reserved = [
        name
        for name, res in resources.items()
        if "ReservedConcurrentExecutions" in (res.get("Properties") or {})
    ]
    assert reserved == []
