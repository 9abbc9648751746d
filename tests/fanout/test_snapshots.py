"""Snapshots: GetImages via Stubber (moto lacks it), KVS endpoint and S3 on moto, the deadline."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from facewatch.alerts.event import AlertDetail
from facewatch.alerts.snapshots import BoundedSnapshots, KvsFrameGrabber, S3Snapshots, SnapshotError
from tests.fanout.builders import alert_detail

pytestmark = pytest.mark.integration

REGION = "ap-northeast-2"
BUCKET = "facewatch-test-snapshots"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg-frame\xff\xd9"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        kvs = boto3.client("kinesisvideo", region_name=REGION)
        arn = kvs.create_stream(StreamName="seoul-hq-lobby-01", DataRetentionInHours=24)[
            "StreamARN"
        ]
        s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        media = boto3.client("kinesis-video-archived-media", region_name=REGION)
        endpoints: list[str] = []

        def media_for(url: str) -> Any:
            endpoints.append(url)
            return media

        detail = AlertDetail.model_validate(alert_detail() | {"streamArn": arn})
        with Stubber(media) as stubber:
            yield {
                "kvs": kvs,
                "s3": s3,
                "stubber": stubber,
                "media_for": media_for,
                "endpoints": endpoints,
                "detail": detail,
            }


def expect_get_images(aws: dict[str, Any], images: list[dict[str, Any]]) -> None:
    detail: AlertDetail = aws["detail"]
    aws["stubber"].add_response(
        "get_images",
        {"Images": images},
        {
            "StreamARN": detail.stream_arn,
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "StartTimestamp": detail.first_seen,
            "EndTimestamp": detail.first_seen + timedelta(seconds=2),
            "SamplingInterval": 200,
            "Format": "JPEG",
            "FormatConfig": {"JPEGQuality": "80"},
            "WidthPixels": 1280,
            "MaxResults": 5,
        },
    )


def snapshots(aws: dict[str, Any]) -> S3Snapshots:
    grabber = KvsFrameGrabber(aws["kvs"], aws["media_for"])
    return S3Snapshots(grabber, aws["s3"], BUCKET, url_ttl_seconds=3600)


def test_frame_at_first_detection_is_stored_and_presigned(aws: dict[str, Any]) -> None:
    expect_get_images(
        aws,
        [
            {"TimeStamp": aws["detail"].first_seen, "Error": "NO_MEDIA"},
            {
                "TimeStamp": aws["detail"].first_seen + timedelta(milliseconds=200),
                "ImageContent": base64.b64encode(JPEG).decode(),
            },
        ],
    )
    url = snapshots(aws).snapshot_url(aws["detail"])
    key = "snapshots/INC-7Q2KX4MZ3B1A/20261118T050312.400Z.jpg"  # the incident's own prefix
    assert f"{BUCKET}" in url and key in url
    assert "X-Amz-Expires=3600" in url and "X-Amz-Signature=" in url
    stored = aws["s3"].get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"
    assert requests.get(url, timeout=5).content == JPEG  # what Slack fetches
    assert aws["endpoints"][0].startswith("https://b-")  # GetDataEndpoint(GET_IMAGES)
    aws["stubber"].assert_no_pending_responses()


def test_no_media_is_a_snapshot_error(aws: dict[str, Any]) -> None:
    expect_get_images(aws, [{"TimeStamp": aws["detail"].first_seen, "Error": "NO_MEDIA"}])
    with pytest.raises(SnapshotError, match="NO_MEDIA"):
        snapshots(aws).snapshot_url(aws["detail"])


def test_no_retention_means_the_alert_goes_without_snapshot(aws: dict[str, Any]) -> None:
    aws["stubber"].add_client_error(
        "get_images", "NoDataRetentionException", "retention is 0", http_status_code=400
    )
    assert BoundedSnapshots(snapshots(aws), timeout=2).snapshot_url(aws["detail"]) is None


class BlockingSource:
    """A fake of our SnapshotSource interface that never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def snapshot_url(self, detail: AlertDetail, at: datetime | None = None) -> str:
        self.release.wait(5)
        return "https://late"


def test_never_waits_longer_than_the_timeout() -> None:
    source = BlockingSource()
    bounded = BoundedSnapshots(source, timeout=0.05)
    detail = AlertDetail.model_validate(alert_detail())
    started = time.monotonic()
    try:
        assert bounded.snapshot_url(detail) is None
        assert time.monotonic() - started < 1
    finally:
        source.release.set()
