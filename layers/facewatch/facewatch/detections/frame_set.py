"""The frames an incident has counted, kept for its whole life so a duplicate counts once.

A frame is identified by its time to the millisecond (a producer's retry repeats the frame
exactly; two detectors analysing the same frame agree on it too). The set is stored as the
sorted times' deltas in LEB128 varints, base64: about 3 bytes a frame at 1-5 fps, so an hour of
frames is some 15 KB of the 400 KB a DynamoDB item may hold.
"""

from __future__ import annotations

import base64


def frame_ms(frame_time: float) -> int:
    return round(frame_time * 1000)


def encode(times_ms: set[int]) -> str:
    out = bytearray()
    previous = 0
    for value in sorted(times_ms):
        delta = value - previous
        previous = value
        while True:
            byte = delta & 0x7F
            delta >>= 7
            if delta:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return base64.b64encode(bytes(out)).decode()


def decode(text: str) -> set[int]:
    found: set[int] = set()
    value = shift = previous = 0
    for byte in base64.b64decode(text):
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        previous += value
        found.add(previous)
        value = shift = 0
    return found
