"""The producer's clock: the sampler asks KVS for frames by producer time (the time records,
clips and snapshots use), but its windows start from the Lambda's clock. An office host whose
clock is 8 s slow would have every frame the sampler asks for still "in the future": nothing
analysed. So each camera's skew is measured and corrected for.

Skew = server time - producer time of the fragments KVS received in the last seconds
(ListFragments by SERVER_TIMESTAMP: both times of each fragment; the median of a few). It
includes the upload of a fragment's first frame (a few hundred ms), so it errs towards asking
for slightly older video, never for video not there yet. The sampler's "producer now" is its
own clock minus the skew. A skew beyond ``SAMPLER_MAX_CLOCK_SKEW_SECONDS`` is reported once as
``Camera Health Changed`` (DEGRADED: the camera's clock is off; NTP on the office proxy fixes
it), and once again when it is back within half the bound (HEALTHY).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Protocol

from facewatch.fleet.health import (
    CameraHealth,
    CameraHealthChanged,
    Overall,
    RecognitionState,
    VideoState,
)
from facewatch.sampler.frames import FragmentTimes
from facewatch.timestamps import iso


class HealthPublisher(Protocol):
    def publish(self, events: Sequence[CameraHealthChanged]) -> list[bool]: ...


def measured_skew_ms(fragments: Sequence[FragmentTimes]) -> int | None:
    """Median of server - producer start times; None without fragments (camera silent)."""
    if not fragments:
        return None
    return round(statistics.median(f.server_ms - f.producer_ms for f in fragments))


def skew_off(skew_ms: int, bound_ms: int, was_off: bool) -> bool:
    """Off beyond the bound; once off, back only within half of it (no flapping)."""
    return abs(skew_ms) > (bound_ms // 2 if was_off else bound_ms)


def _health(off: bool, skew_ms: int) -> CameraHealth:
    seconds = abs(skew_ms) / 1000.0
    side = "behind" if skew_ms > 0 else "ahead of"
    reason = (
        f"The camera's clock is {seconds:.1f} s {side} KVS's: the sampler corrects for it; "
        "set NTP on the office proxy"
        if off
        else f"The camera's clock is within {seconds:.1f} s of KVS's"
    )
    return CameraHealth(
        video=VideoState.ONLINE,
        recognition=RecognitionState.NOT_APPLICABLE,
        status=Overall.DEGRADED if off else Overall.HEALTHY,
        reason=reason,
    )


def clock_event(
    camera_id: str, off: bool, skew_ms: int, previous_skew_ms: int, now: float
) -> CameraHealthChanged:
    return CameraHealthChanged(
        camera_id=camera_id,
        changed_at=iso(now),
        previous=_health(not off, previous_skew_ms),
        current=_health(off, skew_ms),
    )
