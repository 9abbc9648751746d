"""What a ``gst-launch-1.0 -e -v`` child says, one line at a time, as typed events.

Only the lines the supervisor acts on are recognised: a frame through the meter, the RTP
encoding the camera announced, errors (with their debug detail) and the end of stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from facewatch_tools.proxy.pipeline import METER

_FRAME = re.compile(
    rf"GstIdentity:{METER}: last-message = chain .*?"
    r"\((?P<size>\d+) bytes,.*?flags: (?P<flags>[^,]*)"
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
    event: Event | None = None
    if "last-message = chain" in line:
        if match := _FRAME.search(line):
            event = Frame(size=int(match["size"]), keyframe="delta-unit" not in match["flags"])
    elif "encoding-name=" in line:
        if match := _ENCODING.search(line):
            event = Encoding(match[1].upper())
    elif _DELAYED_LINK in line:
        event = LinkFailed()
    elif line.startswith(_EOS):
        event = EndOfStream()
    elif match := (_ERRONEOUS.match(line) or _ERROR.match(line)):
        element = match.groupdict().get("element") or "pipeline"
        event = GstError(element=element.rsplit("/", 1)[-1], message=match["message"].strip())
    return event


# (any of these in gst's text, the sentence for the operator); first match wins.
_EXPLANATIONS: list[tuple[tuple[str, ...], str]] = [
    (("(401)", "Unauthorized"),
     "{url}: the camera refused the login (401 Unauthorized): check this camera's entry in the "
     "RTSP credentials file"),
    (("(404)", "Not found"),
     "{url}: no such stream on the camera (404 Not Found): check rtsp_url in the inventory"),
    (("Failed to connect", "Could not resolve"),
     "{url}: cannot connect to the camera (refused, unreachable or unknown host)"),
    (("no element",), "GStreamer element missing: {text} (run `facewatch proxy check`)"),
    (("Could not read", "Could not write", "end-of-file"), "{url}: connection to the camera lost"),
    (("not-linked", "not-negotiated"),
     "{url}: the camera's stream does not fit the pipeline ({text})"),
]  # fmt: skip


def explain(messages: list[str], url: str) -> str:
    """One clear sentence for an operator from gst's error text (and its debug detail lines).

    ``url`` is already redacted; the caller redacts the result before logging it.
    """
    text = " ".join(messages)
    for needles, sentence in _EXPLANATIONS:
        if any(needle in text for needle in needles):
            return sentence.format(url=url, text=text)
    return f"{url}: {text}" if text else f"{url}: pipeline ended"
