"""One roster, one collection per region: enroll everywhere (or where an entry says), sync
reconciles each region and reports drift, remove erases in every region (one region down is
named, the erasure reported incomplete)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from facewatch_tools.cli import build_parser
from facewatch_tools.cli.employees import Clients, run
from facewatch_tools.fleet.roster import (
    Erasure,
    RegionState,
    apply_sync,
    erase_everywhere,
    plan_sync,
)

from .conftest import (
    COLLECTION,
    FRANKFURT,
    SEOUL,
    TABLE,
    UNREACHABLE,
    client,
    resource,
    two_region_inventory,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 32
BOX = {"Width": 0.3, "Height": 0.4, "Left": 0.3, "Top": 0.2}


# ---- the reconciliation, against an oracle -----------------------------------------------------
class ModelCollection:
    """A region's collection and its audit history as facewatch sees them (our own interface):
    faces carry the photo they came from, or None when added outside facewatch."""

    def __init__(self) -> None:
        self.faces: dict[str, list[str | None]] = {}
        self.audit: dict[str, set[str]] = {}

    def employees(self) -> dict[str, int]:
        return {e: len(f) for e, f in sorted(self.faces.items()) if f}

    def enrolled_photos(self, employee_id: str) -> set[str]:
        return set(self.audit.get(employee_id, set()))

    def enroll(
        self, employee_id: str, photo: bytes, photo_name: str, *, force: bool = False
    ) -> None:
        digest = hashlib.sha256(photo).hexdigest()
        if not force and digest in self.audit.get(employee_id, set()):
            return
        self.faces.setdefault(employee_id, []).append(digest)
        self.audit.setdefault(employee_id, set()).add(digest)

    def remove(self, employee_id: str) -> int:
        faces = self.faces.pop(employee_id, [])
        if faces or self.audit.get(employee_id):  # as EmployeeCollection audits a removal
            self.audit[employee_id] = set()
        return len(faces)


PHOTOS = {name: JPEG + name.encode() for name in "abcd"}
DIGEST = {hashlib.sha256(b).hexdigest(): n for n, b in PHOTOS.items()}
EMPLOYEES = ("E1", "E2", "E3")
operations = st.lists(
    st.tuples(
        st.sampled_from(("enroll", "remove", "lose")),
        st.sampled_from(EMPLOYEES),
        st.sampled_from(sorted(PHOTOS)),
    ),
    max_size=12,
)
rosters = st.dictionaries(
    st.sampled_from(EMPLOYEES), st.sets(st.sampled_from(sorted(PHOTOS)), min_size=1), max_size=3
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(history=operations, roster=rosters)
def test_sync_leaves_each_collection_exactly_as_the_roster_says(
    history: list[tuple[str, str, str]], roster: dict[str, set[str]], tmp_path_factory: Any
) -> None:
    folder = tmp_path_factory.mktemp("roster", numbered=True)
    model = ModelCollection()
    for op, employee, photo in history:
        if op == "enroll":
            model.enroll(employee, PHOTOS[photo], photo)
        elif op == "remove":
            model.remove(employee)
        elif model.faces.get(employee):
            model.faces[employee].pop()  # deleted outside facewatch: the audit still has it
    paths = {}
    for name, data in PHOTOS.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(data)
    wanted = {
        e: {hashlib.sha256(PHOTOS[p]).hexdigest(): paths[p] for p in photos}
        for e, photos in roster.items()
    }
    plan = plan_sync(SEOUL, wanted, RegionState.read(model, also=wanted))
    assert plan.empty == (not plan.drift)  # without outside additions, drift = work to do
    apply_sync(plan, model, wanted)
    # The oracle, from the definition: every roster employee has exactly the roster's photos
    # (one face each), nobody else has a face, and a second sync has nothing to do.
    assert {e: Counter(f) for e, f in model.faces.items() if f} == {
        e: Counter(list(wanted[e])) for e in roster
    }
    again = plan_sync(SEOUL, wanted, RegionState.read(model, also=wanted))
    assert again.empty and not again.drift


def test_faces_added_outside_facewatch_are_reported_not_hidden() -> None:
    model = ModelCollection()
    model.enroll("E1", PHOTOS["a"], "a")
    model.faces["E1"].append(None)
    digest = hashlib.sha256(PHOTOS["a"]).hexdigest()
    plan = plan_sync(SEOUL, {"E1": [digest]}, RegionState.read(model))
    assert plan.empty
    assert plan.drift == (
        "E1: 1 face(s) facewatch did not enroll (added outside it; `employees remove` and sync "
        "to rebuild)",
    )


class Refusing:
    def remove(self, employee_id: str) -> int:
        raise AssertionError("unreachable regions are never opened")


def test_erasure_names_the_regions_that_did_not_confirm() -> None:
    model = ModelCollection()
    model.enroll("E1", PHOTOS["a"], "a")

    def down() -> Refusing:
        raise EndpointConnectionError(endpoint_url=UNREACHABLE)

    erasure = erase_everywhere("E1", {SEOUL: lambda: model, FRANKFURT: down})
    assert erasure.removed == {SEOUL: 1} and not erasure.complete
    assert (
        list(erasure.failed) == [FRANKFURT]
        and "EndpointConnectionError" in erasure.failed[FRANKFURT]
    )
    assert model.employees() == {}
    assert Erasure("E1", {SEOUL: 0}).complete  # nothing enrolled there is a complete answer


# ---- the CLI in two regions (moto: tables, STS, stacks; Stubber: Rekognition) ------------------
@pytest.fixture
def cli(regions: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = regions["url"]
    rekognition = {r: client(url, "rekognition", r) for r in (SEOUL, FRANKFURT)}
    stubs = {r: Stubber(c) for r, c in rekognition.items()}
    for stub in stubs.values():
        stub.activate()

    def clients(region: str | None) -> Clients:
        assert region is not None
        if region == FRANKFURT and regions.get("frankfurt_down"):
            return Clients(
                rekognition=client(UNREACHABLE, "rekognition", region, attempts=1),
                sts=client(UNREACHABLE, "sts", region, attempts=1),
                cloudformation=client(UNREACHABLE, "cloudformation", region, attempts=1),
                dynamodb=resource(UNREACHABLE, region),
            )
        return Clients(
            rekognition=rekognition[region],
            sts=client(url, "sts", region),
            cloudformation=client(url, "cloudformation", region),
            dynamodb=resource(url, region),
        )

    inventory = two_region_inventory(tmp_path / "cameras.yaml")
    yield {"clients": clients, "stubs": stubs, "inventory": inventory, "regions": regions}
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def employees(cli: dict[str, Any], *argv: str) -> int:
    args = build_parser().parse_args(["employees", *argv, "--inventory", str(cli["inventory"])])
    return run(args, cli["clients"])


def expect_enroll(stub: Stubber, employee: str, photo: bytes, face: str) -> None:
    stub.add_response(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": BOX}]},
        {"Image": {"Bytes": photo}, "Attributes": ["DEFAULT"]},
    )
    stub.add_response(
        "index_faces",
        {"FaceRecords": [{"Face": {"FaceId": face}}]},
        {
            "CollectionId": COLLECTION,
            "Image": {"Bytes": photo},
            "ExternalImageId": employee,
            "MaxFaces": 1,
            "QualityFilter": "HIGH",
            "DetectionAttributes": ["DEFAULT"],
        },
    )


def expect_list(stub: Stubber, faces: dict[str, str]) -> None:
    stub.add_response(
        "list_faces",
        {"Faces": [{"FaceId": f, "ExternalImageId": e} for f, e in faces.items()]},
        {"CollectionId": COLLECTION, "MaxResults": 4096},
    )


def audit_actions(cli: dict[str, Any], region: str) -> list[tuple[str, str]]:
    items = resource(cli["regions"]["url"], region).Table(TABLE).scan()["Items"]
    return sorted((str(i["employee_id"]), str(i["action"])) for i in items if "employee_id" in i)


def test_enroll_indexes_into_every_regions_collection(
    cli: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "EMP-1.jpg"
    photo.write_bytes(JPEG)
    for region, stub in cli["stubs"].items():
        expect_enroll(stub, "EMP-1", JPEG, f"face-{region}")
    assert employees(cli, "enroll", "--id", "EMP-1", str(photo)) == 0
    out = capsys.readouterr().out
    assert f"{SEOUL}  EMP-1 EMP-1.jpg: enrolled" in out
    assert f"{FRANKFURT}  EMP-1 EMP-1.jpg: enrolled" in out
    assert audit_actions(cli, SEOUL) == audit_actions(cli, FRANKFURT) == [("EMP-1", "ENROLLED")]
    # `--region` is "the regions this entry names": only Frankfurt is asked, and its audit
    # history says this photo is enrolled there, so no Rekognition call is made.
    assert employees(cli, "enroll", "--id", "EMP-1", str(photo), "--region", FRANKFURT) == 0
    out = capsys.readouterr().out
    assert out == "EMP-1 EMP-1.jpg: already enrolled\n"


def test_sync_adds_what_is_missing_removes_what_is_extra_and_reports_drift(
    cli: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster"
    roster.mkdir()
    (roster / "one.jpg").write_bytes(JPEG)
    (roster / "two.jpg").write_bytes(JPEG + b"2")
    (roster / "roster.csv").write_text(
        "file,employee_id,regions\none.jpg,EMP-1,\ntwo.jpg,EMP-2,eu-central-1\n"
    )
    seoul, frankfurt = cli["stubs"][SEOUL], cli["stubs"][FRANKFURT]
    argv = ("sync", str(roster), "--csv", str(roster / "roster.csv"))
    # Seoul has a leaver (EMP-9) and misses EMP-1; Frankfurt misses both.
    expect_list(seoul, {"f9": "EMP-9"})
    expect_list(frankfurt, {})
    assert employees(cli, *argv, "--dry-run") == 1
    out = capsys.readouterr().out
    assert f"{SEOUL}  drift: EMP-9: 1 face(s) in the collection, not in the roster" in out
    assert f"{SEOUL}  drift: EMP-1: not in the collection (1 photo(s))" in out
    assert "EMP-2" not in out.split(FRANKFURT, 1)[0]  # EMP-2 belongs to Frankfurt only
    assert f"{FRANKFURT}  drift: EMP-2: not in the collection (1 photo(s))" in out
    assert audit_actions(cli, SEOUL) == []  # a dry run changes nothing

    expect_list(seoul, {"f9": "EMP-9"})
    expect_list(seoul, {"f9": "EMP-9"})  # remove() lists the faces it deletes
    seoul.add_response(
        "delete_faces", {"DeletedFaces": ["f9"]}, {"CollectionId": COLLECTION, "FaceIds": ["f9"]}
    )
    expect_enroll(seoul, "EMP-1", JPEG, "s1")
    expect_list(frankfurt, {})
    expect_enroll(frankfurt, "EMP-1", JPEG, "f1")
    expect_enroll(frankfurt, "EMP-2", JPEG + b"2", "f2")
    assert employees(cli, *argv) == 0
    out = capsys.readouterr().out
    assert f"{SEOUL}  synced: 1 photo(s) enrolled, 1 face(s) of 1 employee(s) removed" in out
    assert f"{FRANKFURT}  synced: 2 photo(s) enrolled" in out
    assert audit_actions(cli, SEOUL) == [("EMP-1", "ENROLLED"), ("EMP-9", "REMOVED")]
    assert audit_actions(cli, FRANKFURT) == [("EMP-1", "ENROLLED"), ("EMP-2", "ENROLLED")]

    expect_list(seoul, {"s1": "EMP-1"})
    expect_list(frankfurt, {"f1": "EMP-1", "f2": "EMP-2"})
    assert employees(cli, *argv, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"{SEOUL}  in sync: 1 employee(s)" in out
    assert f"{FRANKFURT}  in sync: 2 employee(s)" in out


def test_remove_erases_in_every_region_and_names_a_region_it_cannot_reach(
    cli: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for region, stub in cli["stubs"].items():
        expect_list(stub, {f"f-{region}": "EMP-1"})
        stub.add_response(
            "delete_faces",
            {"DeletedFaces": [f"f-{region}"]},
            {"CollectionId": COLLECTION, "FaceIds": [f"f-{region}"]},
        )
    assert employees(cli, "remove", "EMP-1") == 0
    out = capsys.readouterr().out
    assert f"{SEOUL}: EMP-1: 1 face(s) removed" in out
    assert f"{FRANKFURT}: EMP-1: 1 face(s) removed" in out
    assert audit_actions(cli, SEOUL) == audit_actions(cli, FRANKFURT) == [("EMP-1", "REMOVED")]

    cli["regions"]["frankfurt_down"] = True
    expect_list(cli["stubs"][SEOUL], {})
    assert employees(cli, "remove", "EMP-1") == 1
    out = capsys.readouterr().out
    assert f"{SEOUL}: EMP-1: 0 face(s) removed" in out
    assert f"{FRANKFURT}: EMP-1: NOT ERASED, region not reached" in out

    # Every region answers and none holds a face: erased already, not an error.
    cli["regions"]["frankfurt_down"] = False
    for stub in cli["stubs"].values():
        expect_list(stub, {})
    assert employees(cli, "remove", "EMP-1") == 0
    assert "EMP-1: no faces in any region" in capsys.readouterr().out


def test_enroll_dir_enrols_each_entry_only_in_its_regions_and_names_a_region_down(
    cli: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster"
    roster.mkdir()
    (roster / "one.jpg").write_bytes(JPEG)
    (roster / "two.jpg").write_bytes(JPEG + b"2")
    (roster / "roster.csv").write_text(
        "file,employee_id,regions\none.jpg,EMP-1,\ntwo.jpg,EMP-2,eu-central-1\n"
    )
    expect_enroll(cli["stubs"][SEOUL], "EMP-1", JPEG, "s1")  # EMP-2 is never sent to Seoul
    expect_enroll(cli["stubs"][FRANKFURT], "EMP-1", JPEG, "f1")
    expect_enroll(cli["stubs"][FRANKFURT], "EMP-2", JPEG + b"2", "f2")
    argv = ("enroll-dir", str(roster), "--csv", str(roster / "roster.csv"))
    assert employees(cli, *argv) == 0
    out = capsys.readouterr().out
    assert f"{SEOUL}  1 enrolled or already enrolled, 0 refused" in out
    assert f"{FRANKFURT}  2 enrolled or already enrolled, 0 refused" in out
    assert audit_actions(cli, SEOUL) == [("EMP-1", "ENROLLED")]
    assert audit_actions(cli, FRANKFURT) == [("EMP-1", "ENROLLED"), ("EMP-2", "ENROLLED")]

    cli["regions"]["frankfurt_down"] = True
    photo = tmp_path / "EMP-3.jpg"
    photo.write_bytes(JPEG + b"3")
    expect_enroll(cli["stubs"][SEOUL], "EMP-3", JPEG + b"3", "s3")
    assert employees(cli, "enroll", "--id", "EMP-3", str(photo)) == 1
    captured = capsys.readouterr()
    assert f"{SEOUL}  EMP-3 EMP-3.jpg: enrolled" in captured.out
    assert f"region {FRANKFURT} could not be reached" in captured.err
    assert ("EMP-3", "ENROLLED") in audit_actions(cli, SEOUL)
