"""Consent in every region: `consent record` writes each region's ledger (each region's
enrollment checks its own), `consent withdraw` records the withdrawal and erases the faces in
every region with a certificate section per region; a region down is named, exit 1, the other
region still erased, and the printed re-run completes it (idempotent: no second withdrawal).

moto: the stacks, both tables, STS in two regions; Stubber: Rekognition (moto has no ListFaces).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from botocore.stub import Stubber

from facewatch.fleet.employees import EnrollmentRefusedError
from facewatch.privacy.consent import ConsentLedger, ConsentStatus, subject_digest
from facewatch_tools.cli import build_parser
from facewatch_tools.cli.consent import run
from facewatch_tools.privacy.stores import PrivacyClients

from .conftest import (
    COLLECTION,
    CONSENT,
    FRANKFURT,
    SEOUL,
    TABLE,
    resource,
    two_region_inventory,
)

EMPLOYEE = "EMP-7"


def consent(world: dict[str, Any], *argv: str) -> int:
    args = build_parser().parse_args(["consent", *argv, "--inventory", str(world["inventory"])])
    return run(args, world["clients"])


def ledger(world: dict[str, Any], region: str) -> ConsentLedger:
    return ConsentLedger(resource(world["url"], region).Table(CONSENT))


def certificates(world: dict[str, Any], region: str) -> list[dict[str, Any]]:
    items = resource(world["url"], region).Table(CONSENT).scan()["Items"]
    return [json.loads(str(i["certificate"])) for i in items if i["SK"] == "CERTIFICATE"]


def removals(world: dict[str, Any], region: str) -> list[str]:
    """The employee's REMOVED audit events in the region's incidents table."""
    items = resource(world["url"], region).Table(TABLE).scan()["Items"]
    return [str(i["action"]) for i in items if i.get("employee_id") == EMPLOYEE]


def expect_removal(stub: Stubber, face: str | None) -> None:
    faces = [{"FaceId": face, "ExternalImageId": EMPLOYEE}] if face else []
    stub.add_response(
        "list_faces", {"Faces": faces}, {"CollectionId": COLLECTION, "MaxResults": 4096}
    )
    if face:
        stub.add_response(
            "delete_faces",
            {"DeletedFaces": [face]},
            {"CollectionId": COLLECTION, "FaceIds": [face]},
        )


def record_everywhere(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("record", EMPLOYEE, "--method", "e-sign", "--document", "ENV-1")
    assert consent(world, *argv) == 0
    out = capsys.readouterr().out
    for region in (SEOUL, FRANKFURT):
        assert f"{region}: {EMPLOYEE}: consent recorded at" in out
        assert ledger(world, region).has_consent(EMPLOYEE)


def test_withdrawal_erases_in_every_region_with_a_section_per_region(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    record_everywhere(world, capsys)
    expect_removal(world["stubs"][SEOUL], "face-seoul")
    expect_removal(world["stubs"][FRANKFURT], "face-frankfurt")
    assert consent(world, "withdraw", EMPLOYEE) == 0
    out = capsys.readouterr().out
    assert f"{EMPLOYEE}: consent withdrawn; faces erased" in out
    assert f"consent-withdrawn {subject_digest(EMPLOYEE)}: erased in {SEOUL}, {FRANKFURT}" in out
    assert "NOT ERASED" not in out
    for region in (SEOUL, FRANKFURT):
        assert f"in {region}" in out
        assert not ledger(world, region).has_consent(EMPLOYEE)
        assert removals(world, region) == ["REMOVED"]  # the region's own audit trail
        [certificate] = certificates(world, region)  # the proof, kept in its own region
        assert certificate["region"] == region
        assert certificate["deleted"] == [
            {"store": f"rekognition:{COLLECTION}", "what": "faces", "count": 1}
        ]
        assert EMPLOYEE not in json.dumps(certificate)


def test_a_region_down_is_named_the_other_erased_and_the_printed_rerun_completes_it(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    record_everywhere(world, capsys)
    world["down"].add(FRANKFURT)
    expect_removal(world["stubs"][SEOUL], "face-seoul")
    assert consent(world, "withdraw", EMPLOYEE, "--json") == 1
    captured = capsys.readouterr()
    proof = json.loads(captured.out)
    assert [c["region"] for c in proof["regions"]] == [SEOUL]
    assert [m["region"] for m in proof["not_reached"]] == [FRANKFURT]
    assert "EndpointConnectionError" in proof["not_reached"][0]["error"]
    assert f"{FRANKFURT}: {EMPLOYEE}: consent NOT withdrawn, faces NOT erased" in captured.err
    assert not ledger(world, SEOUL).has_consent(EMPLOYEE)
    assert removals(world, SEOUL) == ["REMOVED"]
    assert ledger(world, FRANKFURT).has_consent(EMPLOYEE)  # untouched until it is reached
    assert removals(world, FRANKFURT) == []

    # The region is back: the command the output printed finishes the withdrawal there only.
    world["down"].clear()
    [hint] = [line for line in captured.err.splitlines() if line.startswith("re-run")]
    argv = shlex.split(hint.split(": ", 1)[1])
    # exact: every option that chose where it acted (here the inventory) comes back with it
    assert argv == [
        "facewatch",
        "consent",
        "withdraw",
        EMPLOYEE,
        "--inventory",
        str(world["inventory"]),
        "--region",
        FRANKFURT,
        "--output",
        "json",
    ]
    expect_removal(world["stubs"][FRANKFURT], "face-frankfurt")
    rerun = argv[2:-2]  # as text this time
    assert consent(world, *rerun) == 0
    out = capsys.readouterr().out
    assert f"{EMPLOYEE}: consent withdrawn; faces erased" in out
    assert f"1 faces (rekognition:{COLLECTION})" in " ".join(out.split())
    assert not ledger(world, FRANKFURT).has_consent(EMPLOYEE)
    assert removals(world, FRANKFURT) == ["REMOVED"]

    # Every region again: idempotent, nothing left, no second withdrawal record anywhere.
    expect_removal(world["stubs"][SEOUL], None)
    expect_removal(world["stubs"][FRANKFURT], None)
    assert consent(world, "withdraw", EMPLOYEE) == 0
    out = capsys.readouterr().out
    assert out.count("deleted  nothing: already erased") == 2
    for region in (SEOUL, FRANKFURT):
        history = ledger(world, region).history(EMPLOYEE)
        assert [r.status for r in history] == [ConsentStatus.GIVEN, ConsentStatus.WITHDRAWN]


def test_record_and_list_cover_every_region_and_name_one_that_is_down(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    world["down"].add(FRANKFURT)
    argv = ("record", EMPLOYEE, "--method", "paper", "--document", "HR form 12")
    assert consent(world, *argv) == 1
    captured = capsys.readouterr()
    assert f"{SEOUL}: {EMPLOYEE}: consent recorded" in captured.out
    assert f"{FRANKFURT}: {EMPLOYEE}: consent NOT recorded, region not reached" in captured.err
    assert (
        f"facewatch consent record {EMPLOYEE} --inventory {world['inventory']} "
        f"--region {FRANKFURT} --method paper --document 'HR form 12'" in captured.err
    )
    assert consent(world, "list") == 1
    captured = capsys.readouterr()
    assert [line.split()[:3] for line in captured.out.splitlines()[1:2]] == [
        [SEOUL, EMPLOYEE, "given"]
    ]
    assert f"{SEOUL}: 1 given, 0 withdrawn" in captured.out
    assert f"region {FRANKFURT} could not be reached" in captured.err

    world["down"].clear()
    assert consent(world, *argv, "--region", FRANKFURT) == 0
    assert consent(world, "list") == 0
    out = capsys.readouterr().out
    assert [FRANKFURT, EMPLOYEE, "given"] in [line.split()[:3] for line in out.splitlines()]
    assert f"{FRANKFURT}: 1 given" in out


def test_an_invalid_id_is_refused_before_any_region_is_touched(tmp_path: Any) -> None:
    def no_region(region: str | None) -> PrivacyClients:
        raise AssertionError(f"{region} opened for an invalid id")

    inventory = two_region_inventory(tmp_path / "cameras.yaml")
    args = build_parser().parse_args(
        ["consent", "withdraw", "EMP 7", "--inventory", str(inventory)]
    )
    with pytest.raises(EnrollmentRefusedError, match="must be 1-255 characters"):
        run(args, no_region)
