"""The frames an incident has counted, kept for its whole life so a duplicate counts once.

A frame is identified by its time to the millisecond (a producer's retry repeats the frame
exactly; two detectors analysing the same frame agree on it too). The set is stored as the
sorted times' deltas (32-bit, little-endian), deflated, base64: frames of a visit come at a
steady rate, so an hour of them deflates to a few KB of the 400 KB a DynamoDB item may hold.
Array and zlib keep encoding at C speed (it runs for every changed incident of every batch).
"""

from __future__ import annotations

import base64
import sys
import zlib
from array import array
from itertools import accumulate, pairwise


def frame_ms(frame_time: float) -> int:
    return round(frame_time * 1000)


def encode(times_ms: set[int]) -> str:
    ordered = sorted(times_ms)
    deltas = array("q", [ordered[0]] if ordered else [])
    deltas.extend(b - a for a, b in pairwise(ordered))
    if sys.byteorder == "big":
        deltas.byteswap()
    return base64.b64encode(zlib.compress(deltas.tobytes(), 1)).decode()


def decode(text: str) -> set[int]:
    deltas = array("q")
    deltas.frombytes(zlib.decompress(base64.b64decode(text)))
    if sys.byteorder == "big":
        deltas.byteswap()
    return set(accumulate(deltas))
