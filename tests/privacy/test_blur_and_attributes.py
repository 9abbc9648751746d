"""Blur (measured on pixels), snapshot retention tags, and DEFAULT face attributes only.

DetectFaces and IndexFaces go through Stubber, which checks each request against the service
model: the expected parameters say ``Attributes``/``DetectionAttributes`` is exactly
["DEFAULT"], so a request for emotions, age or gender would fail the test.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from PIL import Image, ImageChops, ImageStat

from facewatch.alerts.event import AlertDetail, FaceBox
from facewatch.alerts.snapshots import (
    BLUR_MARGIN,
    RETENTION_TAG,
    RekognitionFaceLocator,
    S3Snapshots,
    SnapshotPolicy,
    blur_faces,
)
from facewatch.fleet.employees import AuditLog, EmployeeCollection
from tests.fanout.builders import alert_detail

pytestmark = pytest.mark.integration
REGION = "ap-northeast-2"
BUCKET = "snapshots"
WIDTH, HEIGHT = 640, 360
# Attributes beyond DEFAULT that the EU AI Act (emotion at work) or our profiles rule out.
BANNED = {"ALL", "EMOTIONS", "AGE_RANGE", "GENDER", "SMILE", "FACE_OCCLUDED", "EYE_DIRECTION"}


def frame() -> bytes:
    """A detailed frame (noise on a gradient): blur has something to remove everywhere."""
    rng = random.Random(7)
    image = Image.new("RGB", (WIDTH, HEIGHT))
    image.putdata(
        [
            ((x * 255) // WIDTH, rng.randrange(256), (y * 255) // HEIGHT)
            for y in range(HEIGHT)
            for x in range(WIDTH)
        ]
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def mean_difference(a: bytes, b: bytes, box: tuple[int, int, int, int]) -> float:
    one, two = (Image.open(io.BytesIO(x)).convert("L").crop(box) for x in (a, b))
    return float(ImageStat.Stat(ImageChops.difference(one, two)).mean[0])


def test_the_face_region_is_blurred_and_the_rest_is_not() -> None:
    original = frame()
    face = FaceBox(width=0.1, height=0.2, left=0.4, top=0.3)
    blurred = blur_faces(original, [face])
    left, top = int(0.4 * WIDTH), int(0.3 * HEIGHT)
    inner = (left, top, left + int(0.1 * WIDTH), top + int(0.2 * HEIGHT))
    grown = (
        int((0.4 - 0.1 * BLUR_MARGIN) * WIDTH) - 8,
        int((0.3 - 0.2 * BLUR_MARGIN) * HEIGHT) - 8,
        int((0.5 + 0.1 * BLUR_MARGIN) * WIDTH) + 8,
        int((0.5 + 0.2 * BLUR_MARGIN) * HEIGHT) + 8,
    )
    inside = mean_difference(original, blurred, inner)
    outside = [
        mean_difference(original, blurred, region)
        for region in [
            (0, 0, WIDTH, grown[1]),  # above
            (0, grown[3], WIDTH, HEIGHT),  # below
            (0, grown[1], grown[0], grown[3]),  # left
            (grown[2], grown[1], WIDTH, grown[3]),  # right
        ]
    ]
    noise = mean_difference(original, blur_faces(original, []), (0, 0, WIDTH, HEIGHT))
    # Measured: ~38 grey levels inside (the noise is gone); outside only the JPEG re-encode
    # (~3.5 on this noisy frame, the same as re-encoding without any blur).
    assert inside > 25, inside
    assert inside > 5 * noise, (inside, noise)
    assert max(outside) < noise + 0.5, (outside, noise)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


class _Frames:
    """Our own small interface (FrameSource): the KVS side is tested in tests/fanout."""

    def __init__(self, jpeg: bytes) -> None:
        self.jpeg = jpeg

    def jpeg_at(self, stream_arn: str, at: datetime) -> bytes:
        return self.jpeg


def test_a_blurring_site_stores_the_blurred_frame_tagged_with_its_retention(s3: Any) -> None:
    detail = AlertDetail.model_validate(alert_detail())
    original = frame()
    rek = boto3.client("rekognition", region_name=REGION)
    with Stubber(rek) as stub:
        box = {"Width": 0.2, "Height": 0.3, "Left": 0.05, "Top": 0.1}
        stub.add_response(
            "detect_faces",
            {"FaceDetails": [{"BoundingBox": box, "Confidence": 99.0}]},
            {"Image": {"Bytes": original}, "Attributes": ["DEFAULT"]},
        )
        snapshots = S3Snapshots(
            _Frames(original),
            s3,
            BUCKET,
            3600,
            policy_for=lambda _: SnapshotPolicy(blur_faces=True, retention_days=7),
            faces=RekognitionFaceLocator(rek),
        )
        snapshots.snapshot_url(detail)
        stub.assert_no_pending_responses()
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": RETENTION_TAG, "Value": "7"}]
    # both the located face and the incident's best face are blurred
    for fx, fy, fw, fh in [(0.05, 0.1, 0.2, 0.3), (0.41, 0.22, 0.08, 0.14)]:
        region = (
            int(fx * WIDTH),
            int(fy * HEIGHT),
            int((fx + fw) * WIDTH),
            int((fy + fh) * HEIGHT),
        )
        assert mean_difference(original, stored, region) > 25


def test_a_site_without_blur_stores_the_frame_as_taken(s3: Any) -> None:
    detail = AlertDetail.model_validate(alert_detail())
    snapshots = S3Snapshots(
        _Frames(b"\xff\xd8\xff\xe0frame"),
        s3,
        BUCKET,
        3600,
        policy_for=lambda _: SnapshotPolicy(blur_faces=False, retention_days=90),
    )
    snapshots.snapshot_url(detail)
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"\xff\xd8\xff\xe0frame"
    assert s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [
        {"Key": RETENTION_TAG, "Value": "90"}
    ]


class _Audit(AuditLog):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> Any:
        self.events.append(fields)

    def history(self, employee_id: str) -> list[Any]:
        return []


def test_enrollment_asks_rekognition_for_default_attributes_only() -> None:
    rek = boto3.client("rekognition", region_name=REGION)
    photo = frame()
    with Stubber(rek) as stub:
        detail = {"BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.3, "Top": 0.2}}
        stub.add_response(
            "detect_faces",
            {"FaceDetails": [detail]},
            {"Image": {"Bytes": photo}, "Attributes": ["DEFAULT"]},
        )
        stub.add_response(
            "index_faces",
            {"FaceRecords": [{"Face": {"FaceId": "11111111-1111-1111-1111-111111111111"}}]},
            {
                "CollectionId": "staff",
                "Image": {"Bytes": photo},
                "ExternalImageId": "EMP-1",
                "MaxFaces": 1,
                "QualityFilter": "HIGH",
                "DetectionAttributes": ["DEFAULT"],
            },
        )
        people = EmployeeCollection(rek, "staff", _Audit(), "arn:aws:iam::1:user/hr")
        assert people.enroll("EMP-1", photo, "emp-1.jpg").indexed
        stub.assert_no_pending_responses()


def test_no_code_path_asks_for_more_than_default_attributes() -> None:
    """Every Attributes/DetectionAttributes argument in the domain is the DEFAULT literal."""
    domain = Path(__file__).resolve().parents[2] / "layers" / "facewatch" / "facewatch"
    found = []
    for path in domain.rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"(?:Detection)?Attributes=(\[[^\]]*\])", text):
            found.append((path.name, match[1]))
        assert not any(word in text for word in ('"EMOTIONS"', '"AGE_RANGE"', '"GENDER"'))
    assert found and {value for _, value in found} == {'["DEFAULT"]'}
    assert BANNED.isdisjoint({"DEFAULT"})
