"""Cost estimate: the schedule is the lever, and docs/fleet.md carries the current table."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest

from facewatch.fleet.inventory import Camera, Detector, Schedule, Weekday, load_inventory
from facewatch_tools.cli import main
from facewatch_tools.fleet.costs import (
    HOURS_PER_MONTH,
    KDS_SHARD_HOUR,
    REKOGNITION_STREAMING_PER_MINUTE,
    CostAssumptions,
    camera_cost,
    cost_table,
)

from .conftest import ROOT

WEEKDAYS_7_TO_20 = Schedule(days=list(Weekday)[:5], start=time(7), end=time(20))


def processor_camera(schedule: Schedule | None) -> Camera:
    return Camera(
        id="lobby",
        site="s",
        display_name="Lobby",
        detector=Detector.STREAM_PROCESSOR,
        schedule=schedule,
    )


def test_always_on_processor_pays_every_minute_and_every_shard_hour() -> None:
    cost = camera_cost(processor_camera(None), CostAssumptions())
    assert cost.hours == pytest.approx(HOURS_PER_MONTH)
    assert cost.recognition == pytest.approx(
        HOURS_PER_MONTH * 60 * REKOGNITION_STREAMING_PER_MINUTE
    )
    assert cost.kds == pytest.approx(HOURS_PER_MONTH * KDS_SHARD_HOUR, rel=0.01)


def test_schedule_cuts_recognition_but_not_the_shard() -> None:
    always = camera_cost(processor_camera(None), CostAssumptions())
    office = camera_cost(processor_camera(WEEKDAYS_7_TO_20), CostAssumptions())
    assert office.recognition / always.recognition == pytest.approx(65 / 168)
    assert office.kds == pytest.approx(always.kds, rel=0.01)
    assert round(office.total) == 2047


def test_storage_grows_with_retention_and_bitrate() -> None:
    base = camera_cost(processor_camera(None), CostAssumptions())
    more = camera_cost(
        processor_camera(None), CostAssumptions(retention_hours=144, bitrate_mbps=2.0)
    )
    assert more.kvs_storage == pytest.approx(base.kvs_storage * 4)


def test_docs_carry_the_table_for_the_sample_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    table = cost_table(load_inventory(ROOT / "cameras.yaml"), CostAssumptions())
    assert table in (ROOT / "docs/fleet.md").read_text(), "rerun `facewatch cameras cost`"
    # the CLI lists the same figures (its rows, as JSON) the docs' table was made from
    assume = CostAssumptions()
    inventory = load_inventory(ROOT / "cameras.yaml")
    argv = ["cameras", "cost", "--inventory", str(ROOT / "cameras.yaml"), "-o", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["cameraId"], round(r["totalUsd"], 2)) for r in rows] == [
        (c.id, round(camera_cost(c, assume).total, 2)) for c in inventory.cameras
    ]


def test_invalid_inventory_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cameras.yaml"
    bad.write_text(
        "sites: [{id: s, name: S}]\ncameras:\n  - id: c\n    site: s\n    display_name: C\n"
        "    detector: drone\n"
    )
    assert (
        main(["cameras", "cost", "--inventory", str(bad)]) == 1
    )  # a runtime error (bad data); 2 is for usage
    assert "line 6" in capsys.readouterr().err
