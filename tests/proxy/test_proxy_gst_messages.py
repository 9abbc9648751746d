"""Lines as gst-launch-1.0 1.22 prints them (captured from the live tests)."""

from __future__ import annotations

import pytest

from facewatch_tools.proxy.gst_messages import (
    Encoding,
    EndOfStream,
    Frame,
    GstError,
    LinkFailed,
    explain,
    parse_line,
)

KEYFRAME = (
    "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) "
    "(1632 bytes, dts: none, pts: 0:00:00.042956469, duration: 0:00:00.066666666, offset: 0, "
    "offset_end: -1, flags: 00000640 discont marker header , meta: "
    "GstVideoSEIUserDataUnregisteredMeta) 0x55a18ca70a20"
)
DELTA = (
    "/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain   ******* (meter:sink) "
    "(403 bytes, dts: none, pts: 0:00:00.109623135, duration: 0:00:00.066666666, offset: 1632, "
    "offset_end: -1, flags: 00002200 marker delta-unit , meta: none) 0x55a18ca70a20"
)
CAPS = (
    "/GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0/GstRtpBin:manager.GstGhostPad:recv_rtp_sink_0."
    "GstProxyPad:proxypad0: caps = application/x-rtp, media=(string)video, payload=(int)96, "
    'clock-rate=(int)90000, encoding-name=(string)H265, sprop-vps=(string)"QAEMAf//"'
)


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (KEYFRAME, Frame(size=1632, keyframe=True)),
        (DELTA, Frame(size=403, keyframe=False)),
        (CAPS, Encoding("H265")),
        ("WARNING: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Delayed linking "
         "failed.", LinkFailed()),
        ("ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Unauthorized",
         GstError("GstRTSPSrc:rtspsrc0", "Unauthorized")),
        ("ERROR: pipeline doesn't want to preroll.", GstError("pipeline",
                                                              "pipeline doesn't want to preroll.")),
        ('WARNING: erroneous pipeline: no element "kvssink"',
         GstError("pipeline", 'no element "kvssink"')),
        ('Got EOS from element "pipeline0".', EndOfStream()),
        ("Progress: (request) SETUP stream 0", None),
        ("/GstPipeline:pipeline0/GstIdentity:meter: last-message = chain garbled", None),
        ("/GstPipeline:pipeline0/X: caps = application/x-rtp, media=(string)audio, "
         "encoding-name=(string)PCMU", None),
    ],
)  # fmt: skip
def test_parse_line(line: str, event: object) -> None:
    assert parse_line(line) == event


URL = "rtsp://10.0.0.5/s1"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["Unauthorized", "Unauthorized (401)"], "refused the login (401 Unauthorized)"),
        (["Not found", "Not Found (404)"], "no such stream on the camera (404 Not Found)"),
        (["Could not open resource for reading and writing.", "Failed to connect. (Generic error)"],
         "cannot connect to the camera"),
        (['no element "kvssink"'], "GStreamer element missing"),
        (["Could not read from resource.", "Could not receive message. (Received end-of-file)"],
         "connection to the camera lost"),
        (["Internal data stream error.", "streaming stopped, reason not-negotiated (-4)"],
         "does not fit the pipeline"),
        (["Something new"], "rtsp://10.0.0.5/s1: Something new"),
        ([], "pipeline ended"),
    ],
)  # fmt: skip
def test_explain_gives_one_clear_sentence(messages: list[str], expected: str) -> None:
    text = explain(messages, URL)
    assert expected in text
    assert text.startswith(URL) or text.startswith("GStreamer")
