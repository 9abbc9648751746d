"""Clip links from Kinesis Video Streams: HLS session URLs for an incident's time range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from facewatch.clips.media import KvsMediaClients
from facewatch.timestamps import to_datetime

HLS_API = "GET_HLS_STREAMING_SESSION_URL"


@dataclass(frozen=True, slots=True)
class ClipLink:
    url: str
    start: datetime
    expires_at: datetime


class ClipProvider(Protocol):
    def hls_url(
        self,
        stream_arn: str,
        start: float,
        end: float | None,
        *,
        mode: Literal["LIVE_REPLAY", "ON_DEMAND"],
        expires_in: int,
        now: float,
    ) -> ClipLink: ...


class KvsClipProvider:
    """GetDataEndpoint once per stream (for the container's life), then GetHLSStreamingSessionURL.

    ``media_client_for(endpoint)`` builds a kinesis-video-archived-media client on that endpoint.
    """

    def __init__(self, kvs_client: Any, media_client_for: Callable[[str], Any]) -> None:
        self._media = KvsMediaClients(kvs_client, HLS_API, media_client_for)

    def hls_url(
        self,
        stream_arn: str,
        start: float,
        end: float | None,
        *,
        mode: Literal["LIVE_REPLAY", "ON_DEMAND"],
        expires_in: int,
        now: float,
    ) -> ClipLink:
        time_range: dict[str, datetime] = {"StartTimestamp": to_datetime(start)}
        if end is not None:
            time_range["EndTimestamp"] = to_datetime(end)
        response = self._media.for_stream(stream_arn).get_hls_streaming_session_url(
            StreamARN=stream_arn,
            PlaybackMode=mode,
            HLSFragmentSelector={
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": time_range,
            },
            Expires=expires_in,
        )
        return ClipLink(
            url=response["HLSStreamingSessionURL"],
            start=to_datetime(start),
            expires_at=to_datetime(now + expires_in),
        )
