"""Privacy profiles: built-in and custom, resolved into the registry, enforced by the plan and
by the S3 lifecycle rules (one per retention tier)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from facewatch.alerts.snapshots import RETENTION_TAG, RETENTION_TIERS_DAYS, retention_tagging
from facewatch.fleet.inventory import Inventory, InventoryError, load_inventory
from facewatch.fleet.profiles import BUILTIN_PROFILES, ObjectDays, snapshot_policy
from facewatch.fleet.registry import desired_items
from facewatch_tools.fleet.stacks import VIDEO_ONLY, MainStack, desired_stacks
from facewatch_tools.template import main_template
from tests.conftest import ROOT

MAIN = MainStack("facewatch-dev", "dev", "facewatch-employees", "80")


def inventory(**extra: Any) -> Inventory:
    return Inventory.model_validate(
        {
            "privacy_profiles": [
                {"id": "short", "base": "eu-gdpr", "retention": {"incidents": 10, "clips": 7}},
                {"id": "shorter", "base": "short", "blur_faces": False},
            ],
            "sites": [
                {"id": "seoul", "name": "Seoul"},
                {"id": "berlin", "name": "Berlin", "privacy": "eu-gdpr"},
                {"id": "portland", "name": "Portland", "privacy": "recognition-off"},
                {"id": "munich", "name": "Munich", "privacy": "shorter"},
            ],
            "cameras": [
                {"id": "s-1", "site": "seoul", "display_name": "S", "detector": "stream-processor"},
                {"id": "b-1", "site": "berlin", "display_name": "B"},
                {
                    "id": "p-1",
                    "site": "portland",
                    "display_name": "P",
                    "detector": "stream-processor",
                },
                {"id": "p-2", "site": "portland", "display_name": "P2"},
                {"id": "m-1", "site": "munich", "display_name": "M"},
            ],
            **extra,
        }
    )


def test_the_builtins_are_the_laws_profiles() -> None:
    assert set(BUILTIN_PROFILES) == {
        "default",
        "eu-gdpr",
        "us-il-bipa",
        "us-tx-cubi",
        "recognition-off",
    }
    assert not BUILTIN_PROFILES["recognition-off"].recognition
    for law in ("eu-gdpr", "us-il-bipa", "us-tx-cubi"):
        assert BUILTIN_PROFILES[law].consent_required
    # BIPA: destroyed within 3 years; CUBI: within a year after the purpose ends
    assert BUILTIN_PROFILES["us-il-bipa"].retention.incidents <= 3 * 365
    assert BUILTIN_PROFILES["us-tx-cubi"].retention.incidents <= 365


def test_custom_profiles_build_on_others() -> None:
    inv = inventory()
    short, shorter = inv.profiles()["short"], inv.profiles()["shorter"]
    assert short.retention.incidents == 10 and short.retention.clips == 7
    assert short.retention.snapshots == BUILTIN_PROFILES["eu-gdpr"].retention.snapshots
    assert short.consent_required and short.blur_faces
    assert shorter.retention.incidents == 10 and not shorter.blur_faces
    assert inv.profile("munich") == shorter
    assert inv.consent_required()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"privacy_profiles": [{"id": "eu-gdpr"}]}, "defined twice"),
        ({"privacy_profiles": [{"id": "x", "base": "nope"}]}, "unknown base"),
        ({"privacy_profiles": [{"id": "x", "retention": {"snapshots": 14}}]}, "snapshots"),
    ],
)
def test_bad_profiles_are_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Inventory.model_validate({"sites": [], **extra})


def test_an_unknown_profile_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text("sites:\n  - id: a\n    name: A\n    privacy: eu-gpdr\n")
    with pytest.raises(InventoryError, match="unknown privacy profile 'eu-gpdr'"):
        load_inventory(path)


def test_the_sample_inventory_names_profiles() -> None:
    inv = load_inventory(ROOT / "cameras.yaml")
    assert inv.profile("berlin").id == "eu-works-council"
    assert inv.profile("berlin").retention.incidents == 30
    assert inv.profile("seoul-hq").id == "default"


def test_recognition_off_gets_no_processor_and_no_sampler() -> None:
    inv = inventory()
    stacks = {d.camera.id: d for d in desired_stacks(inv, MAIN, "body", 72)}
    assert stacks["p-1"].parameters["Detector"] == VIDEO_ONLY
    assert stacks["p-2"].parameters["Detector"] == VIDEO_ONLY
    assert stacks["p-1"].processor_name is None
    assert stacks["s-1"].processor_name is not None
    assert stacks["b-1"].parameters["Detector"] == "sampler"
    items = desired_items(inv, {"s-1": "proc-s", "p-1": "proc-p"})
    assert items[("CAMERA#p-1", "REGISTRY")].get("processor_name") is None
    assert items[("CAMERA#s-1", "REGISTRY")]["processor_name"] == "proc-s"


def test_the_registry_carries_each_sites_profile() -> None:
    items = desired_items(inventory(), {})
    assert items[("CAMERA#m-1", "REGISTRY")]["privacy"]["id"] == "shorter"
    assert items[("CAMERA#m-1", "REGISTRY")]["privacy"]["retention"]["incidents"] == 10
    assert items[("SITE#portland", "SITE")]["privacy"]["recognition"] is False


def test_every_object_tier_has_a_lifecycle_rule_of_its_days() -> None:
    assert set(ObjectDays.__args__) == set(RETENTION_TIERS_DAYS)  # type: ignore[attr-defined]
    bucket = main_template()["Resources"]["SnapshotBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    by_tag = {
        r["TagFilters"][0]["Value"]: r["ExpirationInDays"] for r in rules if r.get("TagFilters")
    }
    assert by_tag == {str(d): d for d in RETENTION_TIERS_DAYS}
    assert all(r["TagFilters"][0]["Key"] == RETENTION_TAG for r in rules if r.get("TagFilters"))
    for profile in BUILTIN_PROFILES.values():
        assert retention_tagging(profile.retention.snapshots) == (
            f"{RETENTION_TAG}={profile.retention.snapshots}"
        )
    with pytest.raises(ValueError, match="tier"):
        retention_tagging(14)


def test_an_unregistered_camera_gets_the_safe_snapshot_policy() -> None:
    assert snapshot_policy(None).blur_faces
    assert snapshot_policy(None).retention_days == min(RETENTION_TIERS_DAYS)
    policy = snapshot_policy(BUILTIN_PROFILES["default"])
    assert not policy.blur_faces and policy.retention_days == 30
