"""KVS adapter: frames of a camera's stream by producer timestamp (GetImages), and the
producer and server times of its recent fragments (ListFragments), which measure the producer's
clock skew.

Both are archived-media APIs: GetDataEndpoint(GET_IMAGES / LIST_FRAGMENTS) first (cached per
stream for the life of the container), then the call on that endpoint. Times are integer
milliseconds here so that checkpoints and sampling grids never drift.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

ImageError = Literal["NO_MEDIA", "MEDIA_ERROR"]

# Errors meaning "this camera cannot be read now"; the others are bugs or transient.
_UNAVAILABLE = {
    "ResourceNotFoundException": "stream not found",
    "NoDataRetentionException": "stream keeps no data (DataRetentionInHours is 0)",
    "NotAuthorizedException": "not authorized to read the stream",
}
_THROTTLED = {"ClientLimitExceededException", "ThrottlingException", "LimitExceededException"}
# GetImages takes MaxResults 1-100 (the most images of the whole request) but answers at most
# 25 images a page; the rest come with NextToken.
MAX_RESULTS = 100
PAGE_SIZE = 25


class CameraUnavailableError(Exception):
    """The camera's stream cannot be read (missing, no retention, not authorized)."""


class VideoThrottledError(Exception):
    """KVS refused the request for now (ClientLimitExceeded)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One sampling point: its producer time (ms) and either JPEG bytes or an error."""

    time_ms: int
    jpeg: bytes | None = None
    error: ImageError | None = None


@dataclass(frozen=True, slots=True)
class StreamRef:
    camera_id: str
    arn: str
    endpoint: str  # GET_IMAGES
    fragments_endpoint: str = ""  # LIST_FRAGMENTS


@dataclass(frozen=True, slots=True)
class FragmentTimes:
    """One fragment's start by the producer's clock and its arrival by KVS's (ms)."""

    producer_ms: int
    server_ms: int


def to_datetime_ms(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000.0, tz=UTC)


def to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000.0)


class KvsFrames:
    """Reads frames with GetImages. ``media_client`` builds an archived-media client for an
    endpoint (boto3 clients are per endpoint); both are injected so tests can stub them."""

    def __init__(self, video_client: Any, media_client: Callable[[str], Any]) -> None:
        self._video = video_client
        self._media_client = media_client
        self._streams: dict[str, StreamRef] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def stream(self, camera_id: str) -> StreamRef:
        with self._lock:
            cached = self._streams.get(camera_id)
        if cached:
            return cached
        try:
            arn = self._video.describe_stream(StreamName=camera_id)["StreamInfo"]["StreamARN"]
            endpoint, fragments = (
                self._video.get_data_endpoint(StreamARN=arn, APIName=api)["DataEndpoint"]
                for api in ("GET_IMAGES", "LIST_FRAGMENTS")
            )
        except ClientError as exc:
            raise _translate(exc) from exc
        ref = StreamRef(
            camera_id=camera_id, arn=arn, endpoint=endpoint, fragments_endpoint=fragments
        )
        with self._lock:
            self._streams[camera_id] = ref
        return ref

    def forget(self, camera_id: str) -> None:
        """Drop the cached endpoint (a stream recreated under the same name has a new ARN)."""
        with self._lock:
            self._streams.pop(camera_id, None)

    def frames(
        self,
        stream: StreamRef,
        *,
        start_ms: int,
        end_ms: int,
        interval_ms: int,
        size: tuple[int, int] | None,
        quality: int,
        limit: int,
    ) -> list[Frame]:
        """Frames at ``start_ms + k * interval_ms`` up to ``end_ms``, oldest first, at most
        ``limit``. ``size`` (width, height) asks KVS for scaled-down images."""
        request: dict[str, Any] = {
            "StreamARN": stream.arn,
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "StartTimestamp": to_datetime_ms(start_ms),
            "EndTimestamp": to_datetime_ms(end_ms),
            "SamplingInterval": interval_ms,
            "Format": "JPEG",
            "FormatConfig": {"JPEGQuality": str(quality)},
            "MaxResults": min(MAX_RESULTS, limit),
        }
        if size:
            request["WidthPixels"], request["HeightPixels"] = size
        client = self._client(stream.endpoint)
        frames: list[Frame] = []
        while True:
            try:
                page = client.get_images(**request)
            except ClientError as exc:
                raise _translate(exc) from exc
            except BotoCoreError as exc:  # connection and read timeouts: try again next cycle
                raise VideoThrottledError(type(exc).__name__) from exc
            frames.extend(_frame(image) for image in page.get("Images", []))
            token = page.get("NextToken")
            if not token or len(frames) >= limit:
                break
            request["NextToken"] = token
        frames.sort(key=lambda f: f.time_ms)
        return frames[:limit]

    def frame_at(
        self, stream: StreamRef, time_ms: int, interval_ms: int, quality: int
    ) -> Frame | None:
        """The full-resolution frame at ``time_ms`` (a range shorter than the sampling interval
        returns the image at its start)."""
        found = self.frames(
            stream,
            start_ms=time_ms,
            end_ms=time_ms + 1,
            interval_ms=interval_ms,
            size=None,
            quality=quality,
            limit=1,
        )
        return found[0] if found else None

    def fragment_times(
        self, stream: StreamRef, *, start_ms: int, end_ms: int, limit: int = 20
    ) -> list[FragmentTimes]:
        """Producer and server start times of fragments that KVS received between ``start_ms``
        and ``end_ms`` (server time, so the producer's clock cannot hide them)."""
        client = self._client(stream.fragments_endpoint or stream.endpoint)
        try:
            page = client.list_fragments(
                StreamARN=stream.arn,
                MaxResults=limit,
                FragmentSelector={
                    "FragmentSelectorType": "SERVER_TIMESTAMP",
                    "TimestampRange": {
                        "StartTimestamp": to_datetime_ms(start_ms),
                        "EndTimestamp": to_datetime_ms(end_ms),
                    },
                },
            )
        except ClientError as exc:
            raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise VideoThrottledError(type(exc).__name__) from exc
        return [
            FragmentTimes(to_ms(f["ProducerTimestamp"]), to_ms(f["ServerTimestamp"]))
            for f in page.get("Fragments", [])
        ]

    def _client(self, endpoint: str) -> Any:
        with self._lock:
            client = self._clients.get(endpoint)
            if client is None:
                client = self._clients[endpoint] = self._media_client(endpoint)
            return client


def _frame(image: dict[str, Any]) -> Frame:
    time_ms = to_ms(image["TimeStamp"])
    error = image.get("Error")
    if error in ("NO_MEDIA", "MEDIA_ERROR"):
        return Frame(time_ms=time_ms, error=error)
    content = image.get("ImageContent")
    if not content:
        return Frame(time_ms=time_ms, error="MEDIA_ERROR")
    try:
        return Frame(time_ms=time_ms, jpeg=base64.b64decode(content, validate=True))
    except (binascii.Error, ValueError):
        return Frame(time_ms=time_ms, error="MEDIA_ERROR")


def _translate(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _UNAVAILABLE:
        return CameraUnavailableError(_UNAVAILABLE[code])
    if code in _THROTTLED:
        return VideoThrottledError(code)
    return RuntimeError(f"GetImages/GetDataEndpoint failed: {code}")
