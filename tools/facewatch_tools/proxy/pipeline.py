"""The GStreamer pipeline of one camera, as the argv of a ``gst-launch-1.0 -e`` child.

rtspsrc (TCP, bounded latency) ! depay ! parse ! caps ! identity (the meter) ! sink.
Each element and property is its own argv item: gst-launch escapes them, so values are never
re-split, and no shell is involved. The identity element prints one line per access unit under
``-v``; the supervisor reads frame times and sizes from them (the same for every sink).

A camera with a login runs ``gst_child.py`` instead (the same pipeline in-process through
PyGObject, the same output): any user of the host can read a process's argv, so the login is
never in it; the child gets it on stdin (``Pipeline.secret_input``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from facewatch_tools.proxy.rtsp_credentials import RtspLogin

GST_LAUNCH = "gst-launch-1.0"
GST_CHILD = Path(__file__).with_name("gst_child.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-gi
METER = "meter"


def gst_python() -> str:
    """An interpreter with PyGObject: this one if it has gi, else the system python3."""
    return sys.executable if importlib.util.find_spec("gi") else SYSTEM_PYTHON


class Codec(StrEnum):
    H264 = "h264"
    H265 = "h265"

    @property
    def encoding_name(self) -> str:
        """The RTP encoding-name the camera announces in its SDP."""
        return self.value.upper()

    def elements(self) -> list[str]:
        if self is Codec.H264:
            # kvssink takes AVC (length-prefixed) access units only.
            return [
                "rtph264depay",
                "!",
                "h264parse",
                "!",
                "video/x-h264,stream-format=avc,alignment=au",
            ]
        return [
            "rtph265depay",
            "!",
            "h265parse",
            "!",
            "video/x-h265,stream-format=hvc1,alignment=au",
        ]


class SinkKind(StrEnum):
    KVSSINK = "kvssink"
    FILESINK = "filesink"
    FAKESINK = "fakesink"


class SinkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: SinkKind = SinkKind.KVSSINK
    output_dir: Path | None = Field(default=None, description="filesink: one .mkv per run")
    aws_region: str | None = Field(default=None, description="kvssink aws-region")
    kvs_credential_path: Path | None = Field(
        default=None, description="kvssink credential-path (the file the proxy keeps fresh)"
    )
    kvs_storage_mb: int | None = Field(default=None, ge=8, le=4096)

    def required_elements(self) -> list[str]:
        return {
            SinkKind.KVSSINK: ["kvssink"],
            SinkKind.FILESINK: ["matroskamux", "filesink"],
            SinkKind.FAKESINK: ["fakesink"],
        }[self.kind]

    def elements(self, camera_id: str, run: int) -> list[str]:
        if self.kind is SinkKind.KVSSINK:
            sink = ["kvssink", f"stream-name={camera_id}"]
            if self.aws_region:
                sink.append(f"aws-region={self.aws_region}")
            if self.kvs_credential_path:
                sink.append(f"credential-path={self.kvs_credential_path}")
            if self.kvs_storage_mb:
                sink.append(f"storage-size={self.kvs_storage_mb}")
            return sink
        if self.kind is SinkKind.FILESINK:
            return ["matroskamux", "!", "filesink", f"location={self.output_path(camera_id, run)}"]
        return ["fakesink", "sync=false"]

    def output_path(self, camera_id: str, run: int) -> Path:
        if self.output_dir is None:
            raise ValueError("the filesink needs an output directory")
        return self.output_dir / f"{camera_id}-{run:04d}.mkv"


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    latency_ms: int = Field(default=200, ge=0, le=10_000, description="rtspsrc jitter buffer")
    tcp_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="rtspsrc gives up on a silent TCP connection"
    )
    sink: SinkSettings = Field(default_factory=SinkSettings)

    def required_elements(self) -> list[str]:
        base = ["rtspsrc", "rtph264depay", "h264parse", "rtph265depay", "h265parse", "identity"]
        return base + self.sink.required_elements()


def build_argv(
    camera_id: str,
    rtsp_url: str,
    login: RtspLogin | None,
    codec: Codec,
    settings: PipelineSettings,
    *,
    run: int,
) -> list[str]:
    """argv for ``gst-launch-1.0``, or for ``gst_child.py`` when the camera has a login: the
    login is never in the argv (nor in the URL); ``secret_input`` carries it to the child."""
    source = [
        "rtspsrc",
        f"location={rtsp_url}",
        "protocols=tcp",
        f"latency={settings.latency_ms}",
        f"tcp-timeout={int(settings.tcp_timeout_s * 1_000_000)}",
    ]
    launcher = [GST_LAUNCH, "-e", "-v"] if login is None else [gst_python(), str(GST_CHILD)]
    return [
        *launcher,
        *source, "!",
        *codec.elements(), "!",
        "identity", f"name={METER}", "silent=false", "!",
        *settings.sink.elements(camera_id, run),
    ]  # fmt: skip


def secret_input(login: RtspLogin | None) -> bytes | None:
    """What the child reads on stdin: the login as JSON (None: no login, gst-launch runs)."""
    if login is None:
        return None
    data = {"username": login.username, "password": login.password.get_secret_value()}
    return json.dumps(data).encode()
