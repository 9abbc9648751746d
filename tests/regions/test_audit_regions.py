"""`facewatch audit` over two regions' tables: one time-ordered answer, pages with one cursor
across regions, `--region` to restrict, a region that cannot be reached named while the other
answers, show/set-status/report finding the incident in its own region."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest

from facewatch.audit.history import IncidentHistory
from facewatch.audit.merged import Cursor, CursorError, MergedHistory, RegionalHistory
from facewatch.detections.store import DynamoIncidentStore
from facewatch_tools.cli import main
from tests.audit.conftest import T0, incident_item, incident_state

from .conftest import FRANKFURT, SEOUL, TABLE, UNREACHABLE, client, two_region_inventory

pytestmark = pytest.mark.integration


def seed(url: str) -> list[tuple[float, str, str]]:
    """Incidents in both regions, some at the very same millisecond across regions; the
    oracle is (first seen, incident id, region), sorted."""
    rng = random.Random(18)
    expected = []
    for region, prefix, count in ((SEOUL, "INC-S", 23), (FRANKFURT, "INC-F", 17)):
        dynamodb = client(url, "dynamodb", region)
        store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
        for n in range(count):
            first = T0 + (rng.randrange(40) * 60 if n % 4 else n * 60)  # ties on every 4th
            incident_id = f"{prefix}{n:03d}"
            item = incident_item(store, incident_state(incident_id, f"{region}-cam", first), "hq")
            dynamodb.put_item(TableName=TABLE, Item=item)
            expected.append((first, incident_id, region))
    return sorted(expected)


def audit(
    regions: dict[str, Any], inventory: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    code = main(["audit", *argv, "--inventory", str(inventory), *regions["endpoints"]])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[tuple[str, str]]:
    return [(r["incidentId"], r["region"]) for r in csv.DictReader(io.StringIO(out))]


@pytest.fixture
def seeded(regions: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {
        "expected": seed(regions["url"]),
        "inventory": two_region_inventory(tmp_path / "cameras.yaml"),
    }


def test_incidents_of_every_region_in_one_time_order(
    regions: dict[str, Any], seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = [(i, r) for _, i, r in seeded["expected"]]
    code, out, err = audit(regions, seeded["inventory"], capsys, "incidents", "--format", "csv")
    assert code == 0 and rows(out) == expected
    assert f"40 incidents ({SEOUL}, {FRANKFURT})" in err
    code, out, _ = audit(
        regions, seeded["inventory"], capsys, "incidents", "--format", "csv", "--newest-first"
    )
    assert rows(out) == expected[::-1]
    code, out, _ = audit(
        regions, seeded["inventory"], capsys, "incidents", "--format", "csv", "--region", FRANKFURT
    )
    assert rows(out) == [(i, r) for i, r in expected if r == FRANKFURT]


@pytest.mark.parametrize("newest_first", [False, True])
def test_pages_across_regions_with_one_cursor_show_everything_once(
    regions: dict[str, Any],
    seeded: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    newest_first: bool,
) -> None:
    expected = [(i, r) for _, i, r in seeded["expected"]]
    order = ["--newest-first"] if newest_first else []
    shown: list[tuple[str, str]] = []
    cursor: list[str] = []
    for _ in range(10):
        argv = ["incidents", "--format", "csv", "--limit", "7", *order, *cursor]
        code, out, err = audit(regions, seeded["inventory"], capsys, *argv)
        page = rows(out)
        assert code == 0 and len(page) <= 7
        shown += page
        if "next page: --cursor " not in err:
            break
        cursor = ["--cursor", err.split("next page: --cursor ")[1].split()[0]]
    assert shown == (expected[::-1] if newest_first else expected)


def test_a_region_that_cannot_be_reached_is_named_and_the_other_answers(
    regions: dict[str, Any], seeded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    down = {
        **regions,
        "endpoints": [
            f"--endpoint-url={SEOUL}={regions['url']}",
            f"--endpoint-url={FRANKFURT}={UNREACHABLE}",
        ],
    }
    code, out, err = audit(down, seeded["inventory"], capsys, "incidents", "--format", "csv")
    assert code == 1  # a partial answer
    assert rows(out) == [(i, r) for _, i, r in seeded["expected"] if r == SEOUL]
    assert f"region {FRANKFURT} could not be reached" in err
    assert "its incidents are missing from this answer" in err


def test_show_set_status_and_report_use_the_incidents_own_region(
    regions: dict[str, Any],
    seeded: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    inventory = seeded["inventory"]
    code, out, _ = audit(regions, inventory, capsys, "show", "INC-F003", "--format", "json")
    assert code == 0 and '"region": "eu-central-1"' in out
    code, out, _ = audit(regions, inventory, capsys, "set-status", "INC-F003", "acknowledged")
    assert code == 0 and "open -> acknowledged" in out
    frankfurt = IncidentHistory(client(regions["url"], "dynamodb", FRANKFURT), TABLE)
    seoul = IncidentHistory(client(regions["url"], "dynamodb", SEOUL), TABLE)
    assert (found := frankfurt.get("INC-F003")) is not None and found.status == "acknowledged"
    assert seoul.get("INC-F003") is None  # nothing written in the other region
    report = tmp_path / "report.html"
    argv = ["report", "--since", "2026-02-01", "--until", "2026-04-01", "--out", str(report)]
    code, out, _ = audit(regions, inventory, capsys, *argv)
    assert code == 0 and "40 incidents" in out
    assert f"in {SEOUL}, {FRANKFURT}" in report.read_text()


class FlakyOpen:
    """A region that is down for the first ``down`` opens, then answers."""

    def __init__(self, history: IncidentHistory, down: int) -> None:
        self.history, self.down = history, down

    def __call__(self) -> IncidentHistory:
        if self.down:
            self.down -= 1
            from botocore.exceptions import EndpointConnectionError  # noqa: PLC0415

            raise EndpointConnectionError(endpoint_url=UNREACHABLE)
        return self.history


def test_a_region_down_on_one_page_is_read_from_its_start_on_the_next(
    regions: dict[str, Any], seeded: dict[str, Any]
) -> None:
    url = regions["url"]
    seoul = IncidentHistory(client(url, "dynamodb", SEOUL), TABLE, page_size=4)
    frankfurt = FlakyOpen(IncidentHistory(client(url, "dynamodb", FRANKFURT), TABLE), down=1)
    shown: list[tuple[str, str]] = []
    cursor = None
    for page_number in range(20):
        merged = MergedHistory(
            [RegionalHistory(SEOUL, lambda: seoul), RegionalHistory(FRANKFURT, frankfurt)]
        )
        page = merged.page(6, cursor)
        assert (FRANKFURT in merged.unreachable) == (page_number == 0)
        shown += [(i.incident_id, i.region) for i in page.incidents]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor.encode(), newest_first=False)
    assert sorted(shown) == sorted((i, r) for _, i, r in seeded["expected"])
    assert len(shown) == len(set(shown))  # nothing twice


def test_a_cursor_is_checked() -> None:
    with pytest.raises(CursorError, match="not a cursor"):
        Cursor.decode("bm90IGpzb24", newest_first=False)
    with pytest.raises(CursorError, match="other order"):
        Cursor.decode(Cursor(True, {}).encode(), newest_first=False)
