"""What a ``gst-launch-1.0 -e -v`` child says, one line at a time, as typed events.

Only the lines the supervisor acts on are recognised: a frame through the meter, the RTP
encoding the camera announced, errors (with their debug detail) and the end of stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from facewatch_tools.proxy.pipeline import METER

_FRAME = re.compile(
    rf"GstIdentity:{METER}: last-message = chain .*?\((?P<size>\d+) bytes,.*?flags: (?P<flags>[^,]*)"
)
_ENCODING = re.compile(r"application/x-rtp, media=\(string\)video,.*?encoding-name=\(string\)(\w+)")
_ERROR = re.compile(r"^ERROR: (?:from element (?P<element>\S+): )?(?P<message>.*)$")
_ERRONEOUS = re.compile(r"^(?:WARNING|ERROR): erroneous pipeline: (?P<message>.*)$")
_DELAYED_LINK = "Delayed linking failed"
_EOS = "Got EOS from element"


@dataclass(frozen=True)
class Frame:
    size: int
    keyframe: bool


@dataclass(frozen=True)
class Encoding:
    name: str  # RTP encoding-name, e.g. H264, H265


@dataclass(frozen=True)
class GstError:
    element: str
    message: str


@dataclass(frozen=True)
class LinkFailed:
    """The source's pad could not link to the depayloader: the camera sends another codec."""


@dataclass(frozen=True)
class EndOfStream:
    pass


Event = Frame | Encoding | GstError | LinkFailed | EndOfStream


def parse_line(line: str) -> Event | None:
    if "last-message = chain" in line:
        match = _FRAME.search(line)
        if match:
            return Frame(size=int(match["size"]), keyframe="delta-unit" not in match["flags"])
        return None
    if "encoding-name=" in line:
        match = _ENCODING.search(line)
        return Encoding(match[1].upper()) if match else None
    if _DELAYED_LINK in line:
        return LinkFailed()
    if line.startswith(_EOS):
        return EndOfStream()
    match = _ERRONEOUS.match(line) or _ERROR.match(line)
    if match:
        element = match.groupdict().get("element") or "pipeline"
        return GstError(element=element.rsplit("/", 1)[-1], message=match["message"].strip())
    return None


def explain(messages: list[str], url: str) -> str:
    """One clear sentence for an operator from gst's error text (and its debug detail lines).

    ``url`` is already redacted; ``messages`` must be redacted by the caller before logging.
    """
    text = " ".join(messages)
    if "(401)" in text or "Unauthorized" in text:
        return (
            f"{url}: the camera refused the login (401 Unauthorized): check this camera's "
            "entry in the RTSP credentials file"
        )
    if "(404)" in text or "Not found" in text:
        return f"{url}: no such stream on the camera (404 Not Found): check rtsp_url in the inventory"
    if "Failed to connect" in text or "Could not resolve" in text:
        return f"{url}: cannot connect to the camera (refused, unreachable or unknown host)"
    if "no element" in text:
        return f"GStreamer element missing: {text} (run `facewatch proxy check`)"
    if "Could not read" in text or "Could not write" in text or "end-of-file" in text:
        return f"{url}: connection to the camera lost"
    if "not-linked" in text or "not-negotiated" in text:
        return f"{url}: the camera's stream does not fit the pipeline ({text})"
    return f"{url}: {text}" if text else f"{url}: pipeline ended"
