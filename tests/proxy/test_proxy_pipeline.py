from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from facewatch_tools.proxy.pipeline import (
    Codec,
    PipelineSettings,
    SinkKind,
    SinkSettings,
    build_argv,
    secret_input,
)
from facewatch_tools.proxy.rtsp_credentials import RtspLogin

URL = "rtsp://10.0.0.5:554/stream1"


def test_h264_to_kvssink_pipeline() -> None:
    settings = PipelineSettings(
        latency_ms=150,
        tcp_timeout_s=7,
        sink=SinkSettings(aws_region="eu-west-1", kvs_credential_path=Path("/run/p/kvs-cred"),
                          kvs_storage_mb=64),
    )  # fmt: skip
    argv = build_argv("lobby-01", URL, None, Codec.H264, settings, run=3)
    assert " ".join(argv) == (
        "gst-launch-1.0 -e -v rtspsrc location=rtsp://10.0.0.5:554/stream1 protocols=tcp "
        "latency=150 tcp-timeout=7000000 ! rtph264depay ! h264parse ! "
        "video/x-h264,stream-format=avc,alignment=au ! identity name=meter silent=false ! "
        "kvssink stream-name=lobby-01 aws-region=eu-west-1 credential-path=/run/p/kvs-cred "
        "storage-size=64"
    )


def test_h265_to_filesink_pipeline_numbers_each_run(tmp_path: Path) -> None:
    settings = PipelineSettings(sink=SinkSettings(kind=SinkKind.FILESINK, output_dir=tmp_path))
    argv = build_argv("dock", URL, None, Codec.H265, settings, run=12)
    assert argv[argv.index("rtspsrc") :][5:11] == [
        "!", "rtph265depay", "!", "h265parse", "!", "video/x-h265,stream-format=hvc1,alignment=au"
    ]  # fmt: skip
    assert argv[-4:] == ["matroskamux", "!", "filesink", f"location={tmp_path}/dock-0012.mkv"]


def test_a_login_never_goes_into_the_argv_nor_the_url_but_to_the_childs_stdin() -> None:
    login = RtspLogin(username="viewer", password=SecretStr("pa ss!w0rd"))
    argv = build_argv("cam", URL, login, Codec.H264, PipelineSettings(), run=1)
    assert f"location={URL}" in argv and argv[1].endswith("gst_child.py")
    assert not [item for item in argv if "viewer" in item or "pa ss" in item or "@" in item]
    assert json.loads(secret_input(login) or b"") == {
        "username": "viewer",
        "password": "pa ss!w0rd",  # pragma: allowlist secret
    }
    assert secret_input(None) is None


def test_no_aws_key_ever_appears_on_the_command_line() -> None:
    argv = build_argv("cam", URL, None, Codec.H264, PipelineSettings(), run=1)
    assert not any(k in " ".join(argv) for k in ("access-key", "secret-key", "session-token"))


def test_filesink_without_directory_is_refused() -> None:
    sink = SinkSettings(kind=SinkKind.FILESINK)
    with pytest.raises(ValueError, match="output directory"):
        sink.output_path("cam", 1)


@pytest.mark.parametrize(
    ("kind", "sink_elements"),
    [
        (SinkKind.KVSSINK, ["kvssink"]),
        (SinkKind.FILESINK, ["matroskamux", "filesink"]),
        (SinkKind.FAKESINK, ["fakesink"]),
    ],
)
def test_required_elements_cover_source_codecs_meter_and_sink(
    kind: SinkKind, sink_elements: list[str]
) -> None:
    required = PipelineSettings(sink=SinkSettings(kind=kind)).required_elements()
    assert required[:6] == ["rtspsrc", "rtph264depay", "h264parse", "rtph265depay", "h265parse",
                            "identity"]  # fmt: skip
    assert required[6:] == sink_elements
