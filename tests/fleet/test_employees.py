"""Enrollment against a Stubber-checked Rekognition client and a moto audit table."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.fleet.employees import (
    AuditAction,
    AuditLog,
    EmployeeCollection,
    EnrollmentRefusedError,
    Refusal,
    validate_employee_id,
)

from .conftest import REGION, Clock

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
COLLECTION = "facewatch-employees"
ACTOR = "arn:aws:iam::123456789012:user/alice"
BOX = {"Width": 0.3, "Height": 0.4, "Left": 0.3, "Top": 0.2}


def face_detail() -> dict[str, Any]:
    return {"BoundingBox": BOX, "Confidence": 99.9}


@pytest.fixture
def rek(aws: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rekognition", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def people(rek: tuple[Any, Stubber], table: Any, clock: Clock) -> EmployeeCollection:
    return EmployeeCollection(rek[0], COLLECTION, AuditLog(table, clock), ACTOR)


def expect_detect(stub: Stubber, faces: int, photo: bytes = JPEG) -> None:
    stub.add_response(
        "detect_faces",
        {"FaceDetails": [face_detail()] * faces},
        {"Image": {"Bytes": photo}, "Attributes": ["DEFAULT"]},
    )


def expect_index(stub: Stubber, response: dict[str, Any], employee: str = "EMP-001") -> None:
    stub.add_response(
        "index_faces",
        response,
        {
            "CollectionId": COLLECTION,
            "Image": {"Bytes": JPEG},
            "ExternalImageId": employee,
            "MaxFaces": 1,
            "QualityFilter": "HIGH",
            "DetectionAttributes": ["DEFAULT"],
        },
    )


INDEXED = {
    "FaceRecords": [
        {
            "Face": {
                "FaceId": "11111111-1111-1111-1111-111111111111",
                "ExternalImageId": "EMP-001",
                "BoundingBox": BOX,
            }
        }
    ],
    "UnindexedFaces": [],
}


def test_enroll_indexes_one_face_and_audits_without_the_image(
    people: EmployeeCollection, rek: tuple[Any, Stubber], table: Any
) -> None:
    _, stub = rek
    expect_detect(stub, 1)
    expect_index(stub, INDEXED)
    result = people.enroll("EMP-001", JPEG, "alice.jpg")
    assert result.indexed
    (item,) = table.scan()["Items"]
    assert item["PK"] == "EMPLOYEE#EMP-001" and item["SK"] == "EVENT#2026-11-25T09:00:00.000Z"
    assert item["GSI1PK"] == "EMPLOYEES"
    assert item["GSI1SK"] == "2026-11-25T09:00:00.000Z#EMP-001"
    assert item["action"] == "ENROLLED" and item["actor"] == ACTOR
    assert item["photo_sha256"] == hashlib.sha256(JPEG).hexdigest()
    text = repr(item)
    assert "1111-1111" not in text and "Bytes" not in text  # no face ids, no image


def test_same_photo_twice_is_not_indexed_twice(
    people: EmployeeCollection, rek: tuple[Any, Stubber]
) -> None:
    _, stub = rek
    expect_detect(stub, 1)
    expect_index(stub, INDEXED)
    assert people.enroll("EMP-001", JPEG, "a.jpg").indexed
    assert not people.enroll("EMP-001", JPEG, "a-copy.jpg").indexed  # no Rekognition call


@pytest.mark.parametrize(("faces", "reason"), [(0, Refusal.NO_FACE), (3, Refusal.SEVERAL_FACES)])
def test_photos_without_exactly_one_face_are_refused_and_audited(
    people: EmployeeCollection, rek: tuple[Any, Stubber], table: Any, faces: int, reason: Refusal
) -> None:
    expect_detect(rek[1], faces)
    with pytest.raises(EnrollmentRefusedError) as refused:
        people.enroll("EMP-001", JPEG, "group.jpg")
    assert refused.value.reason is reason
    (item,) = table.scan()["Items"]
    assert item["action"] == AuditAction.ENROLL_REFUSED and reason in item["reason"]


def test_low_quality_is_refused_with_rekognitions_reasons(
    people: EmployeeCollection, rek: tuple[Any, Stubber]
) -> None:
    expect_detect(rek[1], 1)
    expect_index(
        rek[1],
        {
            "FaceRecords": [],
            "UnindexedFaces": [
                {"Reasons": ["LOW_SHARPNESS", "LOW_BRIGHTNESS"], "FaceDetail": face_detail()}
            ],
        },
    )
    with pytest.raises(EnrollmentRefusedError, match="LOW_BRIGHTNESS, LOW_SHARPNESS") as refused:
        people.enroll("EMP-001", JPEG, "dark.jpg")
    assert refused.value.reason is Refusal.LOW_QUALITY


def test_second_face_seen_only_by_index_faces_is_rolled_back(
    people: EmployeeCollection, rek: tuple[Any, Stubber]
) -> None:
    _, stub = rek
    expect_detect(stub, 1)
    expect_index(
        stub,
        {
            **INDEXED,
            "UnindexedFaces": [{"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": face_detail()}],
        },
    )
    stub.add_response(
        "delete_faces",
        {"DeletedFaces": ["11111111-1111-1111-1111-111111111111"]},
        {"CollectionId": COLLECTION, "FaceIds": ["11111111-1111-1111-1111-111111111111"]},
    )
    with pytest.raises(EnrollmentRefusedError) as refused:
        people.enroll("EMP-001", JPEG, "two.jpg")
    assert refused.value.reason is Refusal.SEVERAL_FACES


@pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "emp/1", "émile"])
def test_invalid_employee_ids_are_refused_before_any_call(bad: str) -> None:
    with pytest.raises(EnrollmentRefusedError) as refused:
        validate_employee_id(bad)
    assert refused.value.reason is Refusal.INVALID_ID


def test_not_an_image_and_too_large_are_refused_locally(people: EmployeeCollection) -> None:
    with pytest.raises(EnrollmentRefusedError) as refused:
        people.enroll("EMP-001", b"GIF89a....", "x.gif")
    assert refused.value.reason is Refusal.NOT_AN_IMAGE
    with pytest.raises(EnrollmentRefusedError) as refused:
        people.enroll("EMP-001", JPEG + b"\0" * (5 * 1024 * 1024), "huge.jpg")
    assert refused.value.reason is Refusal.TOO_LARGE


def test_remove_deletes_every_face_across_pages_and_audits(
    people: EmployeeCollection, rek: tuple[Any, Stubber], table: Any, clock: Clock
) -> None:
    _, stub = rek
    mine = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(5000)]
    page1 = [{"FaceId": f, "ExternalImageId": "EMP-001"} for f in mine[:4000]] + [
        {"FaceId": "99999999-0000-0000-0000-000000000000", "ExternalImageId": "EMP-002"}
    ]
    page2 = [{"FaceId": f, "ExternalImageId": "EMP-001"} for f in mine[4000:]]
    stub.add_response(
        "list_faces",
        {"Faces": page1, "NextToken": "t"},
        {"CollectionId": COLLECTION, "MaxResults": 4096},
    )
    stub.add_response(
        "list_faces",
        {"Faces": page2},
        {"CollectionId": COLLECTION, "MaxResults": 4096, "NextToken": "t"},
    )
    stub.add_response(
        "delete_faces",
        {"DeletedFaces": mine[:4096]},
        {"CollectionId": COLLECTION, "FaceIds": mine[:4096]},
    )
    stub.add_response(
        "delete_faces",
        {"DeletedFaces": mine[4096:]},
        {"CollectionId": COLLECTION, "FaceIds": mine[4096:]},
    )
    assert people.remove("EMP-001") == 5000
    (item,) = table.scan()["Items"]
    assert item["action"] == "REMOVED" and item["faces"] == 5000


def test_list_counts_faces_per_employee(
    people: EmployeeCollection, rek: tuple[Any, Stubber]
) -> None:
    rek[1].add_response(
        "list_faces",
        {
            "Faces": [
                {"FaceId": "a", "ExternalImageId": "EMP-2"},
                {"FaceId": "b", "ExternalImageId": "EMP-1"},
                {"FaceId": "c", "ExternalImageId": "EMP-2"},
            ]
        },
        {"CollectionId": COLLECTION, "MaxResults": 4096},
    )
    assert people.employees() == {"EMP-1": 1, "EMP-2": 2}


def test_check_reports_matches_and_changes_nothing(
    people: EmployeeCollection, rek: tuple[Any, Stubber], table: Any
) -> None:
    _, stub = rek
    expect_detect(stub, 1)
    stub.add_response(
        "search_faces_by_image",
        {
            "FaceMatches": [
                {"Similarity": 99.1, "Face": {"FaceId": "f", "ExternalImageId": "EMP-001"}}
            ]
        },
        {
            "CollectionId": COLLECTION,
            "Image": {"Bytes": JPEG},
            "MaxFaces": 5,
            "FaceMatchThreshold": 80.0,
        },
    )
    check = people.check(JPEG)
    assert check.refusal is None and check.matches == [("EMP-001", 99.1)]
    expect_detect(stub, 2)
    assert people.check(JPEG).refusal is Refusal.SEVERAL_FACES
    assert people.check(b"nope").refusal is Refusal.NOT_AN_IMAGE
    assert table.scan()["Items"] == []


def test_audit_events_in_one_millisecond_keep_distinct_keys(table: Any, clock: Clock) -> None:
    audit = AuditLog(table, clock)
    first = audit.record(employee_id="E1", action=AuditAction.REMOVED, actor=ACTOR, faces=1)
    second = audit.record(employee_id="E1", action=AuditAction.REMOVED, actor=ACTOR, faces=1)
    assert first.at == "2026-11-25T09:00:00.000Z" and second.at == "2026-11-25T09:00:00.001Z"
    audit.record(employee_id="E2", action=AuditAction.REMOVED, actor=ACTOR, faces=2)
    # oldest first: E2's event took the free .000 of its own partition
    assert [(e.employee_id, e.at[-4:]) for e in audit.since(clock.now - timedelta(minutes=1))] == [
        ("E1", "000Z"),
        ("E2", "000Z"),
        ("E1", "001Z"),
    ]
    assert len(audit.history("E1")) == 2
