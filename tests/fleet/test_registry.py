"""Registry items on a moto table built from template.yaml: reconcile, prune, cached reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facewatch.fleet.inventory import load_inventory
from facewatch.fleet.registry import Registry, RegistryReader

from .conftest import WITH_PROCESSOR

pytestmark = pytest.mark.integration


def inventory(tmp_path: Path, extra_camera: bool = True) -> Any:
    text = WITH_PROCESSOR  # the lobby on a stream processor
    if not extra_camera:
        text = text.split("  - id: berlin-reception-01")[0]
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return load_inventory(path)


def test_apply_is_idempotent_and_prune_removes_only_with_the_flag(
    table: Any, tmp_path: Path
) -> None:
    registry = Registry(table)
    full = inventory(tmp_path)
    plan = registry.plan(
        full, {"seoul-hq-lobby-01": "facewatch-dev-seoul-hq-lobby-01-abc123"}, prune=False
    )
    assert len(plan.put) == 5 and plan.delete == []  # 2 sites + 3 cameras
    registry.apply(plan)
    again = registry.plan(
        full, {"seoul-hq-lobby-01": "facewatch-dev-seoul-hq-lobby-01-abc123"}, prune=True
    )
    assert again.empty

    smaller = inventory(tmp_path, extra_camera=False)
    keep = registry.plan(
        smaller, {"seoul-hq-lobby-01": "facewatch-dev-seoul-hq-lobby-01-abc123"}, prune=False
    )
    assert keep.empty  # without --prune nothing is deleted
    prune = registry.plan(
        smaller, {"seoul-hq-lobby-01": "facewatch-dev-seoul-hq-lobby-01-abc123"}, prune=True
    )
    assert prune.delete == [{"PK": "CAMERA#berlin-reception-01", "SK": "REGISTRY"}]
    registry.apply(prune)
    assert registry.plan(
        smaller, {"seoul-hq-lobby-01": "facewatch-dev-seoul-hq-lobby-01-abc123"}, prune=True
    ).empty


def test_reader_enriches_and_caches_per_container(table: Any, tmp_path: Path) -> None:
    registry = Registry(table)
    registry.apply(registry.plan(inventory(tmp_path), {"seoul-hq-lobby-01": "sp-1"}, prune=False))
    now = [0.0]
    reader = RegistryReader(table, ttl_seconds=300, clock=lambda: now[0])
    lobby = reader.camera("seoul-hq-lobby-01")
    assert lobby is not None
    assert (lobby.site_name, lobby.zone, lobby.display_name, lobby.time_zone) == (
        "Seoul HQ",
        "Lobby",
        "Lobby entrance",
        "Asia/Seoul",
    )
    assert lobby.processor_name == "sp-1" and lobby.slack_route == "seoul"
    dock = reader.camera("seoul-hq-dock-01")
    assert dock is not None and dock.processor_name is None  # samplers have no processor
    assert dock.schedule is not None and len(dock.schedule.days) == 5
    assert reader.camera("nope") is None

    table.delete_item(Key={"PK": "CAMERA#seoul-hq-lobby-01", "SK": "REGISTRY"})
    assert reader.camera("seoul-hq-lobby-01") == lobby  # cached
    now[0] = 301.0
    assert reader.camera("seoul-hq-lobby-01") is None  # expired, read again
    assert sorted(c.camera_id for c in reader.cameras()) == [
        "berlin-reception-01",
        "seoul-hq-dock-01",
    ]
    assert sorted(s.site_id for s in reader.sites()) == ["berlin", "seoul-hq"]
