"""`facewatch employees`: ids from file names or a CSV, refusals reported, audit actor from STS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch_tools.cli import build_parser
from facewatch_tools.cli.employees import Clients, photos_in, run

from .conftest import REGION, TABLE

pytestmark = pytest.mark.integration
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 32
BOX = {"Width": 0.3, "Height": 0.4, "Left": 0.3, "Top": 0.2}


@pytest.fixture
def cli(table: Any) -> Iterator[tuple[Clients, Stubber]]:
    rek = boto3.client("rekognition", region_name=REGION)
    with Stubber(rek) as stub:
        yield (
            Clients(
                rekognition=rek,
                sts=boto3.client("sts", region_name=REGION),
                cloudformation=boto3.client("cloudformation", region_name=REGION),
                dynamodb=boto3.resource("dynamodb", region_name=REGION),
            ),
            stub,
        )
        stub.assert_no_pending_responses()


def parse(*argv: str) -> Any:
    return build_parser().parse_args(
        ["employees", *argv, "--collection-id", "staff", "--table", TABLE, "--region", REGION]
    )


def test_photos_in_uses_file_names_or_a_csv(tmp_path: Path) -> None:
    for name in ("EMP-1.jpg", "EMP-1__side.png", "notes.txt", "EMP-2.JPEG"):
        (tmp_path / name).write_bytes(JPEG)
    assert [(e, p.name) for e, p in photos_in(tmp_path, None)] == [
        ("EMP-1", "EMP-1.jpg"),
        ("EMP-1", "EMP-1__side.png"),
        ("EMP-2", "EMP-2.JPEG"),
    ]
    (tmp_path / "ids.csv").write_text("file,employee_id\nEMP-2.JPEG,E-0002\n")
    assert [(e, p.name) for e, p in photos_in(tmp_path, tmp_path / "ids.csv")] == [
        ("E-0002", "EMP-2.JPEG")
    ]


def test_enroll_dir_reports_each_photo_and_fails_on_refusals(
    cli: tuple[Clients, Stubber], tmp_path: Path, table: Any, capsys: Any
) -> None:
    clients, stub = cli
    (tmp_path / "EMP-1.jpg").write_bytes(JPEG)
    (tmp_path / "EMP-2.jpg").write_bytes(JPEG + b"2")
    stub.add_response(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": BOX}]},
        {"Image": {"Bytes": JPEG}, "Attributes": ["DEFAULT"]},
    )
    stub.add_response(
        "index_faces",
        {"FaceRecords": [{"Face": {"FaceId": "f1"}}]},
        {
            "CollectionId": "staff",
            "Image": {"Bytes": JPEG},
            "ExternalImageId": "EMP-1",
            "MaxFaces": 1,
            "QualityFilter": "HIGH",
            "DetectionAttributes": ["DEFAULT"],
        },
    )
    stub.add_response(
        "detect_faces",
        {"FaceDetails": []},
        {"Image": {"Bytes": JPEG + b"2"}, "Attributes": ["DEFAULT"]},
    )
    assert run(parse("enroll-dir", str(tmp_path)), clients) == 1
    out = capsys.readouterr().out
    assert "1/2 EMP-1 EMP-1.jpg: enrolled" in out  # N/M: progress through the folder
    assert "2/2 EMP-2 EMP-2.jpg: REFUSED NO_FACE" in out
    actors = {i["actor"] for i in table.scan()["Items"]}
    assert actors == {boto3.client("sts", region_name=REGION).get_caller_identity()["Arn"]}


def test_remove_list_and_check(cli: tuple[Clients, Stubber], tmp_path: Path, capsys: Any) -> None:
    clients, stub = cli
    faces = {"Faces": [{"FaceId": "f1", "ExternalImageId": "EMP-1"}]}
    stub.add_response("list_faces", faces, {"CollectionId": "staff", "MaxResults": 4096})
    stub.add_response(
        "delete_faces", {"DeletedFaces": ["f1"]}, {"CollectionId": "staff", "FaceIds": ["f1"]}
    )
    assert run(parse("remove", "EMP-1"), clients) == 0
    stub.add_response("list_faces", faces, {"CollectionId": "staff", "MaxResults": 4096})
    assert run(parse("list"), clients) == 0
    photo = tmp_path / "p.jpg"
    photo.write_bytes(JPEG)
    stub.add_response(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": BOX}] * 2},
        {"Image": {"Bytes": JPEG}, "Attributes": ["DEFAULT"]},
    )
    assert run(parse("check", str(photo)), clients) == 1
    out = capsys.readouterr().out
    assert "EMP-1: 1 face(s) removed" in out
    assert any(line.split()[1:] == ["EMP-1", "1"] for line in out.splitlines())  # REGION ID FACES
    assert "would be REFUSED SEVERAL_FACES" in out
