"""A snapshot for the Slack alert: one JPEG frame at the first detection, from KVS GetImages.

GetDataEndpoint(GET_IMAGES) once per stream, GetImages around the first detection's producer
time, the frame kept in a private encrypted bucket (a lifecycle rule deletes it), and a presigned
URL for Slack. It is a nice-to-have: ``BoundedSnapshots`` gives it SNAPSHOT_TIMEOUT_SECONDS in
all, and any failure means the alert goes out without it. The frame is a face image: never logged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any, Protocol

from facewatch.alerts.event import AlertDetail
from facewatch.clips.media import KvsMediaClients
from facewatch.observability import logger

GET_IMAGES_API = "GET_IMAGES"
WINDOW = timedelta(seconds=2)  # GetImages needs a range; the first frame in it is the one kept
SAMPLING_INTERVAL_MS = 200  # the smallest interval GetImages accepts
WIDTH_PIXELS = 1280  # scaled down (aspect kept): enough to recognise a person in Slack


class SnapshotError(RuntimeError):
    """No frame could be had (no media, no retention, the stream is gone)."""


class SnapshotSource(Protocol):
    def snapshot_url(self, detail: AlertDetail) -> str:
        """A URL Slack can fetch the frame from; raises when there is none."""
        ...


class KvsFrameGrabber:
    """``media_client_for(endpoint)`` builds a kinesis-video-archived-media client there."""

    def __init__(self, kvs_client: Any, media_client_for: Callable[[str], Any]) -> None:
        self._media = KvsMediaClients(kvs_client, GET_IMAGES_API, media_client_for)

    def jpeg_at(self, stream_arn: str, at: datetime) -> bytes:
        response = self._media.for_stream(stream_arn).get_images(
            StreamARN=stream_arn,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=at,
            EndTimestamp=at + WINDOW,
            SamplingInterval=SAMPLING_INTERVAL_MS,
            Format="JPEG",
            FormatConfig={"JPEGQuality": "80"},
            WidthPixels=WIDTH_PIXELS,
            MaxResults=5,
        )
        errors = []
        for image in response.get("Images", []):
            if image.get("ImageContent"):
                try:
                    return base64.b64decode(image["ImageContent"], validate=True)
                except binascii.Error as exc:
                    raise SnapshotError("GetImages returned content that is not base64") from exc
            errors.append(image.get("Error", "no content"))
        raise SnapshotError(f"no frame at the first detection ({', '.join(errors) or 'no images'})")


class S3Snapshots:
    """Frames under ``snapshots/<date>/<incident>.jpg``; presigned GET URLs for Slack."""

    def __init__(
        self, grabber: KvsFrameGrabber, s3_client: Any, bucket: str, url_ttl_seconds: int
    ) -> None:
        self._grabber = grabber
        self._s3 = s3_client
        self._bucket = bucket
        self._ttl = url_ttl_seconds

    def snapshot_url(self, detail: AlertDetail) -> str:
        jpeg = self._grabber.jpeg_at(detail.stream_arn, detail.first_seen)
        key = f"snapshots/{detail.first_seen:%Y/%m/%d}/{detail.incident_id}.jpg"
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=jpeg,
            ContentType="image/jpeg",
            ServerSideEncryption="aws:kms",  # the bucket's key (DataKey) by default
        )
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._ttl
        )
        return url


class BoundedSnapshots:
    """At most ``timeout`` seconds for a snapshot, whatever the inner source does.

    botocore's own connect/read timeouts bound each call; this deadline bounds them all
    together (endpoint, GetImages, PutObject). A late worker finishes in the background.
    """

    def __init__(self, inner: SnapshotSource, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="snapshot")

    def snapshot_url(self, detail: AlertDetail) -> str | None:
        future = self._pool.submit(self._inner.snapshot_url, detail)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            reason = f"no snapshot within {self._timeout:g} s"
        except Exception as exc:
            reason = type(exc).__name__
            if isinstance(exc, SnapshotError):
                reason = str(exc)
        logger.warning(
            "alert sent without snapshot",
            extra={"incident_id": detail.incident_id, "reason": reason},
        )
        return None
