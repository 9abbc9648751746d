"""A snapshot for the Slack alert: one JPEG frame from KVS GetImages, at the first detection,
later at the frame of a clearly better face (alerts/slack/threads.py decides when).

GetDataEndpoint(GET_IMAGES) once per stream, GetImages around the frame's producer time, the
frame kept in a private encrypted bucket (a lifecycle rule deletes it) under
``snapshots/<incident>/<frame time>.jpg`` (one prefix per incident: erasure deletes every
snapshot of it), and a presigned URL for Slack. The site's privacy profile decides
(``SnapshotPolicy``) whether a snapshot is taken at all, whether faces are blurred before the
frame is stored and how long it is kept (an object tag the bucket's lifecycle rules expire by).
It is a nice-to-have: ``BoundedSnapshots`` gives it SNAPSHOT_TIMEOUT_SECONDS in all, and any
failure means the message goes out without it (or keeps the one it has). The frame is a face
image: never logged.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from facewatch.alerts.event import AlertDetail, BestFace, FaceBox
from facewatch.clips.access import SNAPSHOT_ISSUED, AccessLog
from facewatch.clips.media import KvsMediaClients
from facewatch.observability import logger
from facewatch.timestamps import iso

GET_IMAGES_API = "GET_IMAGES"
WINDOW = timedelta(seconds=2)  # GetImages needs a range; the first frame in it is the one kept
SAMPLING_INTERVAL_MS = 200  # the smallest interval GetImages accepts
WIDTH_PIXELS = 1280  # scaled down (aspect kept): enough to recognise a person in Slack
# Objects carry their retention as a tag; template.yaml has one lifecycle rule per tier.
RETENTION_TAG = "facewatch:retention-days"
RETENTION_TIERS_DAYS = (1, 7, 30, 90, 365, 1095)
BLUR_MARGIN = 0.35  # a face box grown by this fraction each side: hair, ears, chin
BLUR_CELLS = 6  # the face region is reduced to this many cells across (nothing recognisable)
# A message's snapshot is replaced only by a face this many times better (box area x confidence,
# the score the grouping picks its best face by): a face a little larger does not churn it.
BETTER_SNAPSHOT_MARGIN = 1.5


def face_score(face: BestFace) -> float:
    """Box area (fractions of the frame) x confidence: detections.incidents.FaceSummary.score."""
    box = face.bounding_box
    return box.width * box.height * face.confidence


def retention_tagging(days: int | None) -> str | None:
    """The S3 Tagging header for an object kept ``days`` (None: the bucket's default rule)."""
    if days is None:
        return None
    if days not in RETENTION_TIERS_DAYS:
        raise ValueError(f"retention {days} days is not a lifecycle tier {RETENTION_TIERS_DAYS}")
    return f"{RETENTION_TAG}={days}"


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """What the camera's site profile says about its snapshots."""

    blur_faces: bool = False
    retention_days: int | None = None
    allowed: bool = True  # False: the profile collects no face data (recognition-off)


def blur_faces(jpeg: bytes, boxes: Sequence[FaceBox], quality: int = 90) -> bytes:
    """The frame with every box (fractions of the frame, grown by BLUR_MARGIN) pixelated and
    smoothed; the rest only re-encoded."""
    from PIL import Image, ImageFilter  # noqa: PLC0415 - only notifiers that blur pay the import

    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    width, height = image.size
    for box in boxes:
        grow_x, grow_y = box.width * BLUR_MARGIN, box.height * BLUR_MARGIN
        left = max(0, int((box.left - grow_x) * width))
        top = max(0, int((box.top - grow_y) * height))
        right = min(width, int((box.left + box.width + grow_x) * width) + 1)
        bottom = min(height, int((box.top + box.height + grow_y) * height) + 1)
        if right - left < 2 or bottom - top < 2:
            continue
        region = image.crop((left, top, right, bottom))
        cells = (max(1, min(BLUR_CELLS, region.width)), max(1, min(BLUR_CELLS, region.height)))
        coarse = region.resize(cells, Image.Resampling.BILINEAR).resize(
            region.size, Image.Resampling.NEAREST
        )
        image.paste(coarse.filter(ImageFilter.GaussianBlur(max(region.size) / 12)), (left, top))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class FaceLocator(Protocol):
    def boxes(self, jpeg: bytes) -> list[FaceBox]: ...


class RekognitionFaceLocator:
    """Every face in the frame (DetectFaces, DEFAULT attributes only: boxes, nothing more)."""

    def __init__(self, rekognition: Any) -> None:
        self._rek = rekognition

    def boxes(self, jpeg: bytes) -> list[FaceBox]:
        found = self._rek.detect_faces(Image={"Bytes": jpeg}, Attributes=["DEFAULT"])
        return [
            FaceBox.model_validate({k.lower(): v for k, v in face["BoundingBox"].items()})
            for face in found.get("FaceDetails", [])
            if "BoundingBox" in face
        ]


class SnapshotError(RuntimeError):
    """No frame could be had (no media, no retention, the stream is gone)."""


class SnapshotSource(Protocol):
    def snapshot_url(self, detail: AlertDetail, at: datetime | None = None) -> str:
        """A URL Slack can fetch the frame at ``at`` (default: the first detection) from;
        raises when there is none."""
        ...


class FrameSource(Protocol):
    def jpeg_at(self, stream_arn: str, at: datetime) -> bytes: ...


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
        found = ", ".join(errors) or "no images"
        raise SnapshotError(f"no frame at {iso(at.timestamp())} ({found})")


class SnapshotRefusedError(SnapshotError):
    """The site's privacy profile takes no snapshots."""


class S3Snapshots:
    """Frames under ``snapshots/<incident>/<frame time>.jpg``; presigned GET URLs for Slack.

    ``policy_for`` gives the camera's profile (blur, retention tag); ``faces`` finds the faces
    to blur (the incident's best face is always blurred too, should the locator miss it).
    """

    def __init__(
        self,
        grabber: FrameSource,
        s3_client: Any,
        bucket: str,
        url_ttl_seconds: int,
        *,
        policy_for: Callable[[AlertDetail], SnapshotPolicy] = lambda _: SnapshotPolicy(),
        faces: FaceLocator | None = None,
        access_log: AccessLog | None = None,
        actor: str = "facewatch",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._grabber = grabber
        self._s3 = s3_client
        self._bucket = bucket
        self._ttl = url_ttl_seconds
        self._policy_for = policy_for
        self._faces = faces
        self._access_log = access_log
        self._actor = actor  # who issues the URL: the notifier's function
        self._clock = clock

    def _blurred(self, jpeg: bytes, detail: AlertDetail) -> bytes:
        boxes = [detail.best_face.bounding_box]
        if self._faces is not None:
            try:
                boxes += self._faces.boxes(jpeg)
            except Exception as exc:  # the best face is still blurred; others may not be found
                logger.warning(
                    "faces not located for blur",
                    extra={"incident_id": detail.incident_id, "reason": type(exc).__name__},
                )
        return blur_faces(jpeg, boxes)

    def snapshot_url(self, detail: AlertDetail, at: datetime | None = None) -> str:
        """The frame at ``at`` (default: the first detection). ``detail.best_face`` is the
        face seen in that frame (blurred even if the locator misses it)."""
        at = detail.first_seen if at is None else at
        policy = self._policy_for(detail)
        if not policy.allowed:
            raise SnapshotRefusedError("the site's privacy profile takes no snapshots")
        jpeg = self._grabber.jpeg_at(detail.stream_arn, at)
        if policy.blur_faces:
            jpeg = self._blurred(jpeg, detail)  # an error here: the alert goes without snapshot
        key = snapshot_key(detail.incident_id, at)
        extra: dict[str, str] = {}
        tagging = retention_tagging(policy.retention_days)
        if tagging:
            extra["Tagging"] = tagging
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=jpeg,
            ContentType="image/jpeg",
            ServerSideEncryption="aws:kms",  # the bucket's key (DataKey) by default
            **extra,
        )
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._ttl
        )
        if self._access_log is not None:
            now = self._clock()
            self._access_log.record_access(
                detail.incident_id,
                SNAPSHOT_ISSUED,
                self._actor,
                now,
                {
                    "recipient": "slack",
                    "urlExpiresAt": iso(now + self._ttl),
                    "blurred": str(policy.blur_faces).lower(),
                },
            )
        return url


def snapshot_prefix(incident_id: str) -> str:
    """Where every snapshot of the incident is (privacy/erasure.py deletes under it)."""
    return f"snapshots/{incident_id}/"


def snapshot_key(incident_id: str, frame_at: datetime) -> str:
    """One object per frame: a better snapshot never overwrites the one an older message
    version links. (Before 2026-12 the one snapshot was ``snapshots/<date>/<incident>.jpg``;
    erasure still looks there.)"""
    at = frame_at.astimezone(UTC) if frame_at.tzinfo else frame_at.replace(tzinfo=UTC)
    return f"{snapshot_prefix(incident_id)}{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z.jpg"


class BoundedSnapshots:
    """At most ``timeout`` seconds for a snapshot, whatever the inner source does.

    botocore's own connect/read timeouts bound each call; this deadline bounds them all
    together (endpoint, GetImages, PutObject). A late worker finishes in the background.
    """

    def __init__(self, inner: SnapshotSource, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="snapshot")

    def snapshot_url(self, detail: AlertDetail, at: datetime | None = None) -> str | None:
        """The URL, or None (logged: the incident and why, never the frame or the face)."""
        future = self._pool.submit(self._inner.snapshot_url, detail, at)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            reason = f"no snapshot within {self._timeout:g} s"
        except Exception as exc:
            reason = type(exc).__name__
            if isinstance(exc, SnapshotError):
                reason = str(exc)
        logger.warning(
            "alert sent without snapshot" if at is None else "better snapshot not taken",
            extra={"incident_id": detail.incident_id, "reason": reason},
        )
        return None
