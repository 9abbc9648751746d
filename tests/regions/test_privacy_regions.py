"""An employee's erasure and subject access in every region: `privacy erase-employee` erases in
each region (one certificate, a section per region, each region's proof kept in that region) and
`privacy export-subject` joins every region's data into one export, time-ordered across regions;
a region down is named, exit 1, the other region still answers, and the printed re-run
completes the request (erasure: idempotent).

moto: the stacks, both tables, STS in two regions; Stubber: Rekognition (moto has no ListFaces).
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from facewatch.detections.bands import Candidate
from facewatch.detections.store import DynamoIncidentStore
from facewatch.fleet.employees import AuditAction, AuditLog, EnrollmentRefusedError
from facewatch.privacy.consent import ConsentLedger, ConsentMethod, subject_digest
from facewatch.timestamps import iso
from facewatch_tools.cli import build_parser
from facewatch_tools.cli.privacy import run
from facewatch_tools.privacy.stores import PrivacyClients
from tests.audit.conftest import T0, incident_item, incident_state

from .conftest import (
    COLLECTION,
    CONSENT,
    FRANKFURT,
    SEOUL,
    TABLE,
    client,
    resource,
    two_region_inventory,
)

EMPLOYEE = "EMP-9"
ACTOR = "arn:aws:iam::123456789012:user/hr"
START = datetime.fromtimestamp(T0, UTC)


def privacy(world: dict[str, Any], *argv: str) -> int:
    args = build_parser().parse_args(["privacy", *argv])
    return run(args, world["clients"])


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


def seed(world: dict[str, Any], region: str, consent: int, enrolled: int, hint: int) -> None:
    """The employee's consent record, enrollment event and a below-threshold hint in an incident
    of the region, at START + the given seconds."""
    url = world["url"]
    ConsentLedger(resource(url, region).Table(CONSENT), clock=lambda: at(consent)).record(
        EMPLOYEE, ConsentMethod.E_SIGN, f"ENV-{region}", ACTOR
    )
    AuditLog(resource(url, region).Table(TABLE), clock=lambda: at(enrolled)).record(
        employee_id=EMPLOYEE,
        action=AuditAction.ENROLLED,
        actor=ACTOR,
        photo_name="emp9.jpg",
        faces=1,
    )
    first = at(hint).timestamp()
    incident = incident_state(f"INC-{region}", f"cam-{region}", first).model_copy(
        update={"closest": Candidate(employee_id=EMPLOYEE, similarity=71.5)}
    )
    dynamodb = client(url, "dynamodb", region)
    store = DynamoIncidentStore(dynamodb, TABLE, retention_days=400)
    dynamodb.put_item(TableName=TABLE, Item=incident_item(store, incident, f"site-{region}"))


def held_in(world: dict[str, Any], region: str) -> str:
    """Every item of both of the region's tables, as text."""
    tables = resource(world["url"], region)
    return "\n".join(
        json.dumps(item, default=str)
        for name in (TABLE, CONSENT)
        for item in tables.Table(name).scan(ConsistentRead=True)["Items"]
    )


def certificates(world: dict[str, Any], region: str) -> list[dict[str, Any]]:
    items = resource(world["url"], region).Table(CONSENT).scan()["Items"]
    return [json.loads(str(i["certificate"])) for i in items if i["SK"] == "CERTIFICATE"]


def faces(stub: Stubber, face: str | None) -> None:
    listed = [{"FaceId": face, "ExternalImageId": EMPLOYEE, "ImageId": "img-1"}] if face else []
    stub.add_response(
        "list_faces", {"Faces": listed}, {"CollectionId": COLLECTION, "MaxResults": 4096}
    )


def expect_erasure(stub: Stubber, face: str | None) -> None:
    faces(stub, face)
    if face:
        stub.add_response(
            "delete_faces",
            {"DeletedFaces": [face]},
            {"CollectionId": COLLECTION, "FaceIds": [face]},
        )


def rerun_argv(err: str) -> list[str]:
    [hint] = [line for line in err.splitlines() if line.startswith("re-run")]
    return shlex.split(hint.split(": ", 1)[1])


def counts(certificate: dict[str, Any]) -> dict[str, int]:
    return {d["what"]: d["count"] for d in certificate["deleted"]}


def test_erase_employee_erases_in_every_region_with_a_section_per_region(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    seed(world, SEOUL, consent=0, enrolled=10, hint=20)
    seed(world, FRANKFURT, consent=5, enrolled=15, hint=25)
    assert EMPLOYEE in held_in(world, SEOUL) and EMPLOYEE in held_in(world, FRANKFURT)
    expect_erasure(world["stubs"][SEOUL], "face-seoul")
    expect_erasure(world["stubs"][FRANKFURT], "face-frankfurt")
    assert privacy(world, "erase-employee", EMPLOYEE, "--inventory", str(world["inventory"])) == 0
    out = capsys.readouterr().out
    digest = subject_digest(EMPLOYEE)
    assert f"erase-employee {digest}: erased in {SEOUL}, {FRANKFURT}" in out
    assert "NOT ERASED" not in out and EMPLOYEE not in out
    for region in (SEOUL, FRANKFURT):
        assert f"in {region}" in out
        assert EMPLOYEE not in held_in(world, region)  # nothing of the employee left there
        [certificate] = certificates(world, region)  # the proof, kept in its own region
        assert certificate["region"] == region and certificate["subject"] == digest
        assert counts(certificate) == {
            "faces": 1,
            "enrollment audit items": 2,  # ENROLLED, and the REMOVED the erasure recorded
            "consent records": 1,
            "closest-employee hints": 1,
        }
        assert f"ERASED#{digest}" in held_in(world, region)


def test_erase_employee_names_a_region_down_and_the_printed_rerun_completes_it(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(world["inventory"])
    seed(world, SEOUL, consent=0, enrolled=10, hint=20)
    seed(world, FRANKFURT, consent=5, enrolled=15, hint=25)
    world["down"].add(FRANKFURT)
    expect_erasure(world["stubs"][SEOUL], "face-seoul")
    argv = ("erase-employee", EMPLOYEE, "--inventory", inventory, "--json")
    assert privacy(world, *argv) == 1
    captured = capsys.readouterr()
    proof = json.loads(captured.out)
    assert [c["region"] for c in proof["regions"]] == [SEOUL]
    assert [m["region"] for m in proof["not_reached"]] == [FRANKFURT]
    assert "EndpointConnectionError" in proof["not_reached"][0]["error"]
    assert f"{FRANKFURT}: NOT ERASED, region not reached" in captured.err
    assert EMPLOYEE not in held_in(world, SEOUL)
    assert len(certificates(world, SEOUL)) == 1
    world["down"].clear()
    assert EMPLOYEE in held_in(world, FRANKFURT)  # untouched until it is reached
    assert certificates(world, FRANKFURT) == []

    # The region is back: the printed command finishes the erasure there, and only there.
    rerun = rerun_argv(captured.err)
    assert rerun == [
        "facewatch",
        "privacy",
        "erase-employee",
        EMPLOYEE,
        "--inventory",
        inventory,
        "--region",
        FRANKFURT,
        "--output",
        "json",
    ]
    expect_erasure(world["stubs"][FRANKFURT], "face-frankfurt")
    assert privacy(world, *rerun[2:]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert [c["region"] for c in proof["regions"]] == [FRANKFURT] and not proof["not_reached"]
    assert EMPLOYEE not in held_in(world, FRANKFURT)
    assert len(certificates(world, SEOUL)) == 1 and len(certificates(world, FRANKFURT)) == 1

    # Every region again: idempotent, nothing deleted, nothing of the employee written back.
    expect_erasure(world["stubs"][SEOUL], None)
    expect_erasure(world["stubs"][FRANKFURT], None)
    assert privacy(world, "erase-employee", EMPLOYEE, "--inventory", inventory) == 0
    out = capsys.readouterr().out
    assert out.count("deleted  nothing: already erased") == 2
    for region in (SEOUL, FRANKFURT):
        assert EMPLOYEE not in held_in(world, region)
        assert len(certificates(world, region)) == 2


def test_export_subject_merges_every_regions_data_in_time_order(
    world: dict[str, Any], tmp_path: Path
) -> None:
    # Interleaved: no region's data is all before the other's.
    seed(world, SEOUL, consent=0, enrolled=30, hint=50)
    seed(world, FRANKFURT, consent=10, enrolled=20, hint=40)
    faces(world["stubs"][SEOUL], "face-seoul")
    faces(world["stubs"][FRANKFURT], "face-frankfurt")
    out = tmp_path / "subject.json"
    argv = ("--employee", EMPLOYEE, "--inventory", str(world["inventory"]), "--out", str(out))
    assert privacy(world, "export-subject", *argv) == 0
    export = json.loads(out.read_text())
    assert export["employee_id"] == EMPLOYEE and export["complete"] is True
    assert export["not_reached"] == []
    assert [r["region"] for r in export["regions"]] == [SEOUL, FRANKFURT]
    for section, face in zip(export["regions"], ("face-seoul", "face-frankfurt"), strict=True):
        held = {h["category"].split(" ")[0]: h["entries"] for h in section["held"]}
        assert [f["faceId"] for f in held["face"]] == [face]  # each region its own
        assert [c["document"] for c in held["consent"]] == [f"ENV-{section['region']}"]
        assert [h["incidentId"] for h in held["incidents"]] == [f"INC-{section['region']}"]
    timeline = [(t["region"], t["category"].split(" ")[0], t["at"]) for t in export["timeline"]]
    assert timeline == [
        (SEOUL, "consent", iso(T0 + 0)),
        (FRANKFURT, "consent", iso(T0 + 10)),
        (FRANKFURT, "enrollment", iso(T0 + 20)),
        (SEOUL, "enrollment", iso(T0 + 30)),
        (FRANKFURT, "incidents", iso(T0 + 40)),
        (SEOUL, "incidents", iso(T0 + 50)),
    ]


def test_export_subject_with_a_region_down_is_incomplete_named_and_the_rerun_completes_it(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(world["inventory"])
    seed(world, SEOUL, consent=0, enrolled=30, hint=50)
    seed(world, FRANKFURT, consent=10, enrolled=20, hint=40)
    world["down"].add(FRANKFURT)
    faces(world["stubs"][SEOUL], "face-seoul")
    out = tmp_path / "subject.json"
    argv = ("--employee", EMPLOYEE, "--inventory", inventory, "--out", str(out))
    assert privacy(world, "export-subject", *argv) == 1
    captured = capsys.readouterr()
    assert f"written to {out} (INCOMPLETE" in captured.out
    assert f"{FRANKFURT}: NOT EXPORTED, region not reached" in captured.err
    partial = json.loads(out.read_text())
    assert partial["complete"] is False
    assert [r["region"] for r in partial["regions"]] == [SEOUL]
    assert [m["region"] for m in partial["not_reached"]] == [FRANKFURT]
    assert {t["region"] for t in partial["timeline"]} == {SEOUL}

    # One answer covers every region: the re-run reads them all again into the same file.
    world["down"].clear()
    rerun = rerun_argv(captured.err)
    assert rerun[:3] == ["facewatch", "privacy", "export-subject"]
    assert rerun[3:] == ["--employee", EMPLOYEE, "--inventory", inventory, "--out", str(out)]
    faces(world["stubs"][SEOUL], "face-seoul")
    faces(world["stubs"][FRANKFURT], "face-frankfurt")
    assert privacy(world, *rerun[2:]) == 0
    whole = json.loads(out.read_text())
    assert whole["complete"] is True and whole["not_reached"] == []
    assert [r["region"] for r in whole["regions"]] == [SEOUL, FRANKFURT]
    assert len(whole["timeline"]) == 6


def test_an_invalid_id_is_refused_before_any_region_is_touched(tmp_path: Path) -> None:
    def no_region(region: str | None) -> PrivacyClients:
        raise AssertionError(f"{region} opened for an invalid id")

    inventory = str(two_region_inventory(tmp_path / "cameras.yaml"))
    for argv in (
        ["erase-employee", "EMP 9", "--inventory", inventory],
        ["export-subject", "--employee", "EMP 9", "--inventory", inventory],
    ):
        args = build_parser().parse_args(["privacy", *argv])
        with pytest.raises(EnrollmentRefusedError, match="must be 1-255 characters"):
            run(args, no_region)
