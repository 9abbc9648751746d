"""`region:` in cameras.yaml: validated with the line, all sites or none, split per region."""

from __future__ import annotations

from pathlib import Path

import pytest

from facewatch.fleet.inventory import (
    Camera,
    Inventory,
    InventoryError,
    Site,
    load_inventory,
)
from facewatch_tools.fleet.regional import RegionError, endpoint_for, target_regions

from .conftest import FRANKFURT, ROOT, SEOUL, two_region_inventory


def test_the_shipped_inventory_names_a_region_for_every_site() -> None:
    inventory = load_inventory(ROOT / "cameras.yaml")
    assert inventory.regions == [SEOUL, FRANKFURT]
    assert {c.id for c in inventory.in_region(FRANKFURT).cameras} == {"berlin-reception-01"}


def test_an_unknown_region_is_refused_with_its_line(tmp_path: Path) -> None:
    path = two_region_inventory(tmp_path / "cameras.yaml")
    path.write_text(path.read_text().replace("eu-central-1", "eu-centrl-1"))
    with pytest.raises(InventoryError) as error:
        load_inventory(path)
    assert "line 3: sites.1.region: Value error, unknown AWS region 'eu-centrl-1'" in str(
        error.value
    )
    path.write_text(path.read_text().replace("eu-centrl-1", "Frankfurt"))
    with pytest.raises(InventoryError, match=r"line 3: sites\.1\.region: String should match"):
        load_inventory(path)


def test_a_site_without_a_region_among_sites_with_one_is_named_with_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(
        "sites:\n"
        "  - id: seoul-hq\n    name: Seoul HQ\n    region: ap-northeast-2\n"
        "  - id: berlin\n    name: Berlin\n"
        "cameras: []\n"
    )
    with pytest.raises(InventoryError) as error:
        load_inventory(path)
    assert "line 5: sites.1.region: site berlin names no region while other sites do" in str(
        error.value
    )


def test_one_region_inventories_keep_working_with_one_region_flag() -> None:
    inventory = Inventory(
        sites=[Site(id="a", name="A"), Site(id="b", name="B")],
        cameras=[Camera(id="cam", site="a", display_name="C")],
    )
    assert target_regions(inventory, None) == [None]
    assert target_regions(inventory, ["us-east-1"]) == ["us-east-1"]
    assert inventory.in_region("us-east-1") is inventory
    with pytest.raises(RegionError, match="give one --region"):
        target_regions(inventory, ["us-east-1", "eu-west-1"])


def test_region_flags_restrict_and_may_name_a_region_without_sites() -> None:
    inventory = Inventory(
        sites=[Site(id="a", name="A", region=SEOUL), Site(id="b", name="B", region=FRANKFURT)]
    )
    assert target_regions(inventory, None) == [SEOUL, FRANKFURT]
    assert target_regions(inventory, [FRANKFURT, FRANKFURT]) == [FRANKFURT]
    assert target_regions(inventory, ["us-east-1"]) == ["us-east-1"]
    assert inventory.in_region("us-east-1").sites == []


def test_endpoints_are_per_region_or_for_all() -> None:
    entries = ["http://all", f"{SEOUL}=http://seoul"]
    assert endpoint_for(entries, SEOUL) == "http://seoul"
    assert endpoint_for(entries, FRANKFURT) == "http://all"
    assert endpoint_for([f"{SEOUL}=http://seoul"], FRANKFURT) is None
    assert endpoint_for(None, SEOUL) is None
