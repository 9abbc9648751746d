"""Privacy on the local stack (the project's template on moto, the real handlers):
each profile's retention reaches items and objects; erasure leaves nothing behind in any table,
bucket or queue of the stack; consent gates enrollment; the commands work end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from facewatch.alerts.snapshots import RETENTION_TAG, S3Snapshots
from facewatch.audit.history import IncidentHistory
from facewatch.fleet.inventory import Inventory
from facewatch.fleet.profiles import snapshot_policy
from facewatch.fleet.registry import RegistryReader
from facewatch.privacy.consent import subject_digest
from facewatch_tools.cli import build_parser, main
from facewatch_tools.cli import employees as employees_cli
from facewatch_tools.cli import privacy as privacy_cli
from facewatch_tools.frames import FaceSpec, frame_record
from facewatch_tools.local import LocalStack
from facewatch_tools.privacy.stores import PrivacyClients
from facewatch_tools.template import resource
from tests.conftest import ROOT

from .test_blur_and_attributes import _Frames, frame

pytestmark = pytest.mark.integration
DAY = 86400
COLLECTION = ["--collection-id", "facewatch-employees"]  # moto's CloudFormation skips collections
INVENTORY = Inventory.model_validate(
    {
        "privacy_profiles": [
            {"id": "short", "base": "eu-gdpr", "retention": {"incidents": 10, "camera_state": 3}}
        ],
        "sites": [
            {"id": "seoul", "name": "Seoul"},
            {"id": "berlin", "name": "Berlin", "privacy": "eu-gdpr"},
            {"id": "chicago", "name": "Chicago", "privacy": "us-il-bipa"},
            {"id": "portland", "name": "Portland", "privacy": "recognition-off"},
            {"id": "munich", "name": "Munich", "privacy": "short"},
        ],
        "cameras": [
            {"id": f"{site}-cam", "site": site, "display_name": site}
            for site in ("seoul", "berlin", "chicago", "portland", "munich")
        ]
        + [
            {"id": "berlin-gate", "site": "berlin", "display_name": "gate"},
            {"id": "munich-gate", "site": "munich", "display_name": "gate"},
        ],
    }
)
# A face nobody else has: finding these digits anywhere after erasure means face data is left.
MARKED = FaceSpec(left=0.4137, top=0.2719, width=0.1013, height=0.1601, confidence=98.7654)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        running.load_registry(INVENTORY)
        yield running


@pytest.fixture
def cli_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for key, value in stack.endpoint.credentials.env().items():
        monkeypatch.setenv(key, value)
    # boto3's default session keeps the credentials an earlier module's stack resolved
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return [
        "--stack",
        stack.stack_name,
        "--region",
        stack.region,
        "--endpoint-url",
        stack.endpoint.url,
    ]


def put(stack: LocalStack, camera: str, times: list[float], faces: list[FaceSpec]) -> None:
    arn = stack.video_stream_arn(camera)
    stack.put_records(
        [(json.dumps(frame_record(camera, t, faces, arn=arn)).encode(), camera) for t in times]
    )
    stack.pump()


def items_of(stack: LocalStack, pk: str) -> list[dict[str, Any]]:
    return list(
        stack.client("dynamodb").query(
            TableName=stack.deployed.outputs["TableName"],
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )["Items"]
    )


def incident_ids(stack: LocalStack, camera: str) -> list[str]:
    return sorted(r.incident_id for r in stack.incidents() if r.camera_id == camera)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def everything(stack: LocalStack) -> str:
    """Every item of every table, every object version (key, tags, body) of every bucket and
    every message of every queue the stack has: what an erasure must have emptied."""
    found: list[str] = []
    ddb, s3, sqs = stack.client("dynamodb"), stack.client("s3"), stack.client("sqs")
    for table in stack.deployed.of_type("AWS::DynamoDB::Table").values():
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            found += [json.dumps(item) for item in page["Items"]]
    for bucket in stack.deployed.of_type("AWS::S3::Bucket").values():
        versions = s3.list_object_versions(Bucket=bucket)
        for version in versions.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            found += [version["Key"], body["Body"].read().decode("latin-1")]
        found += [m["Key"] for m in versions.get("DeleteMarkers", [])]
    for url in stack.deployed.of_type("AWS::SQS::Queue").values():
        handles = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            if not got.get("Messages"):
                break
            for message in got["Messages"]:
                found.append(message["Body"])
                handles.append(message["ReceiptHandle"])
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return "\n".join(found)


def face_data_in(text: str) -> list[str]:
    return [v for v in ("0.4137", "0.2719", "0.1013", "98.7654") if v in text]


def snapshot(stack: LocalStack, incident_id: str) -> str:
    """What the Slack notifier stores for an alert (the frame from a small fake of our own
    frame interface: moto has no GetImages), through the real policy and access log."""
    table = stack.deployed.outputs["TableName"]
    registry = RegistryReader(
        stack.endpoint.session().resource("dynamodb", endpoint_url=stack.endpoint.url).Table(table)
    )
    [event] = [e for e in stack.alert_events() if e.detail.get("incidentId") == incident_id]
    from facewatch.alerts.event import AlertDetail  # noqa: PLC0415

    detail = AlertDetail.model_validate(event.detail)
    snapshots = S3Snapshots(
        _Frames(frame()),
        stack.client("s3"),
        stack.deployed.outputs["SnapshotBucketName"],
        3600,
        policy_for=lambda d: snapshot_policy(registry.privacy(d.camera_id)),
        access_log=IncidentHistory(stack.client("dynamodb"), table),
        actor="lambda:facewatch-dev-slack-notifier",
    )
    return snapshots.snapshot_url(detail)


# ---- retention ------------------------------------------------------------------------------
@pytest.mark.parametrize("site", ["seoul", "berlin", "chicago", "munich"])
def test_each_profiles_retention_reaches_the_items_and_objects(
    stack: LocalStack, site: str
) -> None:
    camera = f"{site}-cam"
    start = time.time() - 40
    put(stack, camera, [start, start + 0.5, start + 1.0], [FaceSpec()])
    [incident_id] = incident_ids(stack, camera)
    profile = INVENTORY.profile(site)
    ceiling = 400 * DAY  # the stack's RetentionDays
    items = items_of(stack, f"INCIDENT#{incident_id}")
    [incident] = [i for i in items if i["SK"]["S"] == "INCIDENT"]
    first = epoch(incident["firstSeen"]["S"])
    expected = first + min(profile.retention.incidents * DAY, ceiling)
    assert {int(i["expiresAt"]["N"]) for i in items} == {expected}  # item and whole trail
    state_items = [i for i in items_of(stack, f"CAMERA#{camera}") if i["SK"]["S"] == "STATE"]
    last = epoch(incident["lastSeen"]["S"])
    assert int(state_items[0]["expiresAt"]["N"]) == last + profile.retention.camera_state * DAY
    # the snapshot carries its tier; the deployed bucket has the rule that expires that tier
    snapshot(stack, incident_id)
    s3 = stack.client("s3")
    bucket = stack.deployed.outputs["SnapshotBucketName"]
    [obj] = [o for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if incident_id in o["Key"]]
    tags = s3.get_object_tagging(Bucket=bucket, Key=obj["Key"])["TagSet"]
    assert tags == [{"Key": RETENTION_TAG, "Value": str(profile.retention.snapshots)}]
    # moto's CloudFormation does not apply a bucket's lifecycle rules: read the template's
    rules = resource("SnapshotBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    matching = [
        r["ExpirationInDays"]
        for r in rules
        if r.get("TagFilters") == [{"Key": RETENTION_TAG, "Value": tags[0]["Value"]}]
    ]
    assert matching == [profile.retention.snapshots]


def test_snapshot_urls_issued_are_in_the_trail_and_audit_show_lists_them(
    stack: LocalStack, cli_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    [incident_id] = incident_ids(stack, "seoul-cam")
    code = main(["audit", "show", incident_id, *cli_env[2:], "--stack", stack.stack_name])
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(ln for ln in out.splitlines() if "snapshot-issued" in ln)
    assert "lambda:facewatch-dev-slack-notifier" in line and "urlExpiresAt=" in line


# ---- erasure ----------------------------------------------------------------------------------
def test_erase_incident_leaves_nothing_anywhere_and_is_idempotent(
    stack: LocalStack, cli_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    camera = "berlin-gate"
    start = time.time() - 50
    put(stack, camera, [start, start + 0.5, start + 1.0], [MARKED])
    [incident_id] = incident_ids(stack, camera)
    snapshot(stack, incident_id)
    stack.client("s3").put_object(  # what the clip archiver keeps (clips.archive), two versions
        Bucket=stack.deployed.outputs["SnapshotBucketName"],
        Key=f"clips/{incident_id}/000.mp4",
        Body=b"mp4 v1",
    )
    stack.client("s3").put_object(
        Bucket=stack.deployed.outputs["SnapshotBucketName"],
        Key=f"clips/{incident_id}/000.mp4",
        Body=b"mp4 v2",
    )
    # a malformed record of this camera (it still holds the face) and a failed Slack delivery
    arn = stack.video_stream_arn(camera)
    broken = json.dumps(frame_record(camera, start + 1.2, [MARKED], arn=arn))[:-2]
    stack.put_records([(broken.encode(), camera)])
    stack.pump()
    stack.client("sqs").send_message(
        QueueUrl=stack.deployed.outputs["SlackAlertsDeadLetterQueueUrl"],
        MessageBody=json.dumps({"detail": {"incidentId": incident_id}}),
    )
    before = everything(stack)
    assert incident_id in before and face_data_in(before)

    assert main(["privacy", "erase-incident", incident_id, *cli_env]) == 0
    out = capsys.readouterr().out
    after = everything(stack)
    assert face_data_in(after) == []
    left = [line for line in after.splitlines() if incident_id in line]
    # only the minimal erasure marker (id, when, the date of its objects) and the certificate
    # (the id, what was deleted where; no face data, no personal data)
    markers = [line for line in left if '"SK": {"S": "ERASED"}' in line]
    certificates = [line for line in left if '"SK": {"S": "CERTIFICATE"}' in line]
    assert len(markers) == 1 and len(certificates) == 1 and len(left) == 2
    assert set(json.loads(markers[0])) == {"PK", "SK", "erasedAt", "objectDate"}
    assert "point-in-time recovery" in out and "until" in out
    assert f"kinesisvideo:{camera}" in out
    assert "deleted" in out and "snapshot and clip object versions" in out

    assert main(["privacy", "erase-incident", incident_id, *cli_env]) == 0
    again = capsys.readouterr().out
    assert "nothing: already erased" in again
    final = everything(stack)
    assert face_data_in(final) == []
    assert final.count(incident_id) == after.count(incident_id) + 1  # one more certificate


def test_erase_by_camera_and_time_takes_only_that_range(
    stack: LocalStack, cli_env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    camera = "munich-gate"
    early, late = time.time() - 1000, time.time() - 200
    put(stack, camera, [early, early + 0.5], [FaceSpec()])
    put(stack, camera, [late, late + 0.5], [FaceSpec()])
    history = IncidentHistory(stack.client("dynamodb"), stack.deployed.outputs["TableName"])
    records = sorted(history.incidents(camera=camera), key=lambda r: r.first_seen)
    assert len(records) == 2
    since = datetime.fromtimestamp(early - 5, UTC).isoformat()
    until = datetime.fromtimestamp(early + 60, UTC).isoformat()
    code = main(
        ["privacy", "erase", "--camera", camera, "--since", since, "--until", until, *cli_env]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert history.get(records[0].incident_id) is None
    assert history.get(records[1].incident_id) is not None
    assert records[0].incident_id not in json.dumps(
        [i for i in items_of(stack, f"CAMERA#{camera}") if i["SK"]["S"] == "STATE"]
    )
    assert "erase-place-and-time munich-gate" in out


def test_a_recognition_off_site_stores_no_face_data_even_if_records_arrive(
    stack: LocalStack,
) -> None:
    start = time.time() - 30
    put(stack, "portland-cam", [start, start + 0.5, start + 1.0], [MARKED])
    assert incident_ids(stack, "portland-cam") == []
    assert items_of(stack, "CAMERA#portland-cam") == [
        i for i in items_of(stack, "CAMERA#portland-cam") if i["SK"]["S"] == "REGISTRY"
    ]
    table_text = json.dumps(
        stack.client("dynamodb").scan(TableName=stack.deployed.outputs["TableName"])["Items"]
    )
    assert face_data_in(table_text) == []


# ---- consent and employees -----------------------------------------------------------------
def privacy_clients(stack: LocalStack, rekognition: Any) -> PrivacyClients:
    session = stack.endpoint.session()
    return PrivacyClients(
        cloudformation=stack.client("cloudformation"),
        dynamodb=stack.client("dynamodb"),
        dynamodb_resource=session.resource("dynamodb", endpoint_url=stack.endpoint.url),
        s3=stack.client("s3"),
        sqs=stack.client("sqs"),
        rekognition=rekognition,
        kinesisvideo=stack.client("kinesisvideo"),
        sts=stack.client("sts"),
        region=stack.region,
        sns=stack.client("sns"),
    )


def employee_clients(stack: LocalStack, rekognition: Any) -> employees_cli.Clients:
    session = stack.endpoint.session()
    return employees_cli.Clients(
        rekognition=rekognition,
        sts=stack.client("sts"),
        cloudformation=stack.client("cloudformation"),
        dynamodb=session.resource("dynamodb", endpoint_url=stack.endpoint.url),
    )


def enroll_responses(stub: Stubber, photo: bytes, employee: str, face_id: str) -> None:
    box = {"Width": 0.3, "Height": 0.4, "Left": 0.3, "Top": 0.2}
    stub.add_response(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": box}]},
        {"Image": {"Bytes": photo}, "Attributes": ["DEFAULT"]},
    )
    stub.add_response(
        "index_faces",
        {"FaceRecords": [{"Face": {"FaceId": face_id, "ExternalImageId": employee}}]},
        {
            "CollectionId": "facewatch-employees",
            "Image": {"Bytes": photo},
            "ExternalImageId": employee,
            "MaxFaces": 1,
            "QualityFilter": "HIGH",
            "DetectionAttributes": ["DEFAULT"],
        },
    )


def faces_response(stub: Stubber, employee: str, face_id: str) -> None:
    stub.add_response(
        "list_faces",
        {"Faces": [{"FaceId": face_id, "ExternalImageId": employee, "ImageId": face_id}]},
        {"CollectionId": "facewatch-employees", "MaxResults": 4096},
    )


def test_enrollment_needs_consent_where_a_profile_says_so_and_withdrawal_erases_faces(
    stack: LocalStack, cli_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "emp.jpg"
    photo.write_bytes(frame())
    face = "22222222-2222-2222-2222-222222222222"
    rek = stack.client("rekognition")
    args = build_parser().parse_args(
        ["employees", "enroll", str(photo), "--id", "EMP-C1", *cli_env, *COLLECTION]
    )
    with Stubber(rek) as stub:  # refused before any Rekognition call
        assert employees_cli.run(args, employee_clients(stack, rek)) == 1
        stub.assert_no_pending_responses()
    assert "REFUSED NO_CONSENT" in capsys.readouterr().out

    assert (
        main(
            ["consent", "record", "EMP-C1", "--method", "e-sign", "--document", "ENV-77", *cli_env]
        )
        == 0
    )
    with Stubber(rek) as stub:
        enroll_responses(stub, photo.read_bytes(), "EMP-C1", face)
        assert employees_cli.run(args, employee_clients(stack, rek)) == 0
        stub.assert_no_pending_responses()
    assert "enrolled" in capsys.readouterr().out

    with Stubber(rek) as stub:
        faces_response(stub, "EMP-C1", face)
        stub.add_response(
            "delete_faces",
            {"DeletedFaces": [face]},
            {"CollectionId": "facewatch-employees", "FaceIds": [face]},
        )
        withdraw = build_parser().parse_args(
            ["consent", "withdraw", "EMP-C1", *cli_env, *COLLECTION]
        )
        from facewatch_tools.cli import consent as consent_cli  # noqa: PLC0415

        assert consent_cli.run(withdraw, privacy_clients(stack, rek)) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert "1 faces (rekognition:facewatch-employees)" in out.replace("   ", " ").replace("  ", " ")
    assert main(["consent", "list", *cli_env]) == 0
    listing = capsys.readouterr().out
    assert any(line.split()[1:3] == ["EMP-C1", "withdrawn"] for line in listing.splitlines())
    # withdrawn: enrollment is refused again
    with Stubber(rek) as stub:
        assert employees_cli.run(args, employee_clients(stack, rek)) == 1
    assert "NO_CONSENT" in capsys.readouterr().out


def test_export_then_erase_employee_leaves_no_trace_of_the_id(
    stack: LocalStack, cli_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    employee, face = "EMP-E7", "33333333-3333-3333-3333-333333333333"
    rek = stack.client("rekognition")
    photo = tmp_path / "e7.jpg"
    photo.write_bytes(frame())
    assert (
        main(["consent", "record", employee, "--method", "paper", "--document", "HR-9", *cli_env])
        == 0
    )
    args = build_parser().parse_args(
        ["employees", "enroll", str(photo), "--id", employee, *cli_env, *COLLECTION]
    )
    with Stubber(rek) as stub:
        enroll_responses(stub, photo.read_bytes(), employee, face)
        assert employees_cli.run(args, employee_clients(stack, rek)) == 0
    # an incident whose stranger looked a bit like the employee (a below-threshold hint)
    start = time.time() - 30
    hint = FaceSpec(employee_id=employee, similarity=70.0)
    put(stack, "chicago-cam", [start + 100, start + 100.5], [hint])
    assert employee in everything(stack)

    out_file = tmp_path / "export.json"
    with Stubber(rek) as stub:
        faces_response(stub, employee, face)
        export = build_parser().parse_args(
            [
                "privacy",
                "export-subject",
                "--employee",
                employee,
                "--out",
                str(out_file),
                *cli_env,
                *COLLECTION,
            ]
        )
        assert privacy_cli.run(export, privacy_clients(stack, rek)) == 0
    export = json.loads(out_file.read_text())
    assert export["complete"] is True and export["not_reached"] == []
    [section] = export["regions"]  # one region: the local stack's
    assert section["region"] == stack.region
    held = {h["category"]: h for h in section["held"]}
    consent = next(h for c, h in held.items() if c.startswith("consent"))
    assert consent["entries"][0]["document"] == "HR-9" and consent["since"]
    enrolled = next(h for c, h in held.items() if c.startswith("enrollment"))
    assert [e["action"] for e in enrolled["entries"]] == ["ENROLLED"]
    faces = next(h for c, h in held.items() if c.startswith("face templates"))
    assert faces["entries"][0]["faceId"] == face
    hints = next(h for c, h in held.items() if c.startswith("incidents"))
    assert hints["entries"] and set(hints["entries"][0]) == {
        "incidentId",
        "cameraId",
        "firstSeen",
        "similarity",
    }  # no face box of the stranger
    assert [t["category"].split(" ")[0] for t in export["timeline"]] == [
        "consent",
        "enrollment",
        "incidents",
    ]  # faces have no date: they are in the region's section only

    with Stubber(rek) as stub:
        faces_response(stub, employee, face)
        stub.add_response(
            "delete_faces",
            {"DeletedFaces": [face]},
            {"CollectionId": "facewatch-employees", "FaceIds": [face]},
        )
        capsys.readouterr()
        erase = build_parser().parse_args(
            ["privacy", "erase-employee", employee, *cli_env, *COLLECTION]
        )
        assert privacy_cli.run(erase, privacy_clients(stack, rek)) == 0
    out = capsys.readouterr().out
    assert subject_digest(employee) in out and employee not in out
    assert employee not in everything(stack)


# ---- report -----------------------------------------------------------------------------------
def test_the_report_renders_for_the_sample_inventory(
    stack: LocalStack, cli_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = str(ROOT / "cameras.yaml")
    code = main(
        ["privacy", "report", "--inventory", inventory, "--out-dir", str(tmp_path), *cli_env]
    )
    assert code == 0, capsys.readouterr()
    berlin = (tmp_path / "privacy-berlin.md").read_text()
    assert "`eu-works-council`" in berlin
    assert "| incidents (camera, times, face box, counts) and trail |" in berlin
    assert "| 30 days (ceiling 400) |" in berlin
    assert "## Consent" in berlin and "## Worker notice" in berlin
    page = (tmp_path / "privacy-seoul-hq.html").read_text()
    assert page.startswith("<!doctype html>") and "<code>default</code>" in page
    assert "<script" not in page
