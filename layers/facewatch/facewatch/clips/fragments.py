"""KVS fragments (ListFragments): where a clip really starts.

KVS selects whole fragments: a clip (HLS, GetClip) holds the fragments that *start* at or after
its start timestamp. A fragment runs from one key frame to the next (often 2-10 s), so a clip
asked to start at "first detection - 5 s" starts at the next key frame, possibly after the
first detection. ``clip_start`` moves the start back to the fragment that contains it.

ListFragments is eventually consistent (typically < 1 s) and returns fragments in no order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from facewatch.clips.media import KvsMediaClients
from facewatch.timestamps import to_datetime

LIST_FRAGMENTS_API = "LIST_FRAGMENTS"
# Fragments longer than this are not looked for behind the pre-roll point (KVS allows long
# fragments, cameras send a key frame every 1-10 s).
LOOKBACK_SECONDS = 30.0
PAGE_SIZE = 1000  # ListFragments' MaxResults ceiling


@dataclass(frozen=True, slots=True)
class Fragment:
    number: str
    start: float  # producer timestamp, Unix seconds
    length: float  # seconds
    size: int  # bytes (the MKV fragment: an MP4 of it is about the same)

    @property
    def end(self) -> float:
        return self.start + self.length


class FragmentSource(Protocol):
    def fragments(self, stream_arn: str, start: float, end: float) -> list[Fragment]:
        """Fragments whose producer timestamp is in [start, end], oldest first."""
        ...


class KvsFragments:
    """``media_client_for(endpoint)`` builds a kinesis-video-archived-media client there."""

    def __init__(self, kvs_client: Any, media_client_for: Callable[[str], Any]) -> None:
        self._media = KvsMediaClients(kvs_client, LIST_FRAGMENTS_API, media_client_for)

    def fragments(self, stream_arn: str, start: float, end: float) -> list[Fragment]:
        client = self._media.for_stream(stream_arn)
        request: dict[str, Any] = {
            "StreamARN": stream_arn,
            "MaxResults": PAGE_SIZE,
            "FragmentSelector": {
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {
                    "StartTimestamp": to_datetime(start),
                    "EndTimestamp": to_datetime(end),
                },
            },
        }
        found: list[Fragment] = []
        while True:
            page = client.list_fragments(**request)
            found += [_fragment(f) for f in page.get("Fragments", [])]
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        return sorted(found, key=lambda f: (f.start, f.number))


def _fragment(item: dict[str, Any]) -> Fragment:
    produced: datetime = item["ProducerTimestamp"]
    return Fragment(
        number=item["FragmentNumber"],
        start=produced.timestamp(),
        length=item.get("FragmentLengthInMilliseconds", 0) / 1000,
        size=int(item.get("FragmentSizeInBytes", 0)),
    )


def containing(fragments: list[Fragment], at: float) -> Fragment | None:
    """The fragment that holds the instant ``at``, if one does."""
    before = [f for f in fragments if f.start <= at]
    if not before:
        return None
    latest = max(before, key=lambda f: f.start)
    return latest if latest.end > at else None


def clip_start(source: FragmentSource, stream_arn: str, at: float) -> float:
    """The start timestamp that makes a clip begin at the fragment containing ``at``; ``at``
    itself when no fragment holds it (a gap in the video, or the video is gone)."""
    found = containing(source.fragments(stream_arn, at - LOOKBACK_SECONDS, at), at)
    return found.start if found else at
