"""Unix seconds to the timestamps of every facewatch document (ISO-8601 UTC, milliseconds, Z)."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def to_datetime(unix_seconds: float) -> datetime:
    if not math.isfinite(unix_seconds):
        raise ValueError("timestamp is not finite")
    return datetime.fromtimestamp(unix_seconds, tz=UTC)


def iso(unix_seconds: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the form used in every facewatch document."""
    return to_datetime(unix_seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")
