from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facewatch_tools.cli import main
from facewatch_tools.proxy.elements import missing_elements

INVENTORY = """\
sites:
  - {id: lab, name: Lab}
  - {id: empty, name: Empty}
cameras:
  - {id: cam-1, site: lab, display_name: One, rtsp_url: "rtsp://10.0.0.5:554/s1"}
  - {id: cam-2, site: lab, display_name: Two, rtsp_url: "rtsp://10.0.0.6/s1"}
  - {id: cam-3, site: lab, display_name: Three}
"""


@pytest.fixture(autouse=True)
def _drop_cli_log_handler() -> Iterator[None]:
    """`proxy run` installs a stderr handler on the root logger: keep it out of later tests."""
    yield
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "facewatch-proxy"]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(INVENTORY)
    return path


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "rtsp.yaml"
    path.write_text("cameras:\n  cam-2: {username: viewer, password: 'p@ss word'}\n")
    path.chmod(0o600)
    return path


def test_check_prints_redacted_pipelines_and_passes_with_filesink(
    inventory: Path, credentials: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["proxy", "check", "--site", "lab", "--inventory", str(inventory),
                 "--credentials", str(credentials), "--sink", "filesink",
                 "--output-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "site lab: 2 camera(s)" in out
    assert "cam-2: rtsp://10.0.0.6/s1 (login viewer)" in out
    assert "gst_child.py" in out and "user-pw" not in out and "p@ss" not in out
    assert "cam-3" not in out  # no rtsp_url: not proxied


def test_check_says_what_to_install_when_kvssink_is_missing(
    inventory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "facewatch_tools.cli.proxy.missing_elements",
        lambda names: missing_elements(names, run=_inspect_without("kvssink"),
                                       which=lambda _: "/usr/bin/x"),
    )  # fmt: skip
    code = main(["proxy", "check", "--site", "lab", "--inventory", str(inventory),
                 "--credentials", "/dev/null/none", "--region", "eu-west-1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "kvssink stream-name=cam-1 aws-region=eu-west-1" in out
    assert "GStreamer element 'kvssink' not found" in out and "-DBUILD_GSTREAMER_PLUGIN=ON" in out
    assert "cannot read RTSP credentials" in out


def _inspect_without(*absent: str) -> Any:
    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(argv, 1 if argv[-1] in absent else 0)

    return run


def test_missing_gstreamer_tools_are_reported_with_the_package() -> None:
    assert missing_elements(["rtspsrc"], which=lambda _: None) == [
        "gst-launch-1.0/gst-inspect-1.0 not found: apt-get install gstreamer1.0-tools"
    ]
    problems = missing_elements(["rtspsrc", "h265parse", "rtspsrc"],
                                run=_inspect_without("rtspsrc", "h265parse"),
                                which=lambda _: "/usr/bin/x")  # fmt: skip
    assert problems == [
        "GStreamer element 'rtspsrc' not found: apt-get install gstreamer1.0-plugins-good",
        "GStreamer element 'h265parse' not found: apt-get install gstreamer1.0-plugins-bad",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "nowhere"], "site 'nowhere' is not in"),
        (["--site", "empty"], "site 'empty' has no camera with an rtsp_url"),
        (["--site", "lab", "--sink", "filesink"], "--sink filesink needs --output-dir"),
        (["--site", "lab", "--sink", "kvssink"], "kvssink needs an AWS region"),
    ],
)
def test_run_refuses_bad_configuration_with_exit_code_2(
    inventory: Path, credentials: Path, args: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    code = main(["proxy", "run", "--inventory", str(inventory), "--credentials", str(credentials),
                 "--no-heartbeat", *args])  # fmt: skip
    assert code == 1
    assert message in capsys.readouterr().err


def test_run_refuses_world_readable_credentials(
    inventory: Path, credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.chmod(0o644)
    code = main(
        [
            "proxy",
            "run",
            "--site",
            "lab",
            "--inventory",
            str(inventory),
            "--credentials",
            str(credentials),
            "--sink",
            "fakesink",
            "--no-heartbeat",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "readable by their owner only" in err and "p@ss" not in err


def test_run_without_kvssink_says_what_to_install(
    inventory: Path, credentials: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(
        "facewatch_tools.cli.proxy.missing_elements",
        lambda names: missing_elements(
            names, run=_inspect_without("kvssink"), which=lambda _: "/usr/bin/x"
        ),
    )
    code = main(
        [
            "proxy",
            "run",
            "--site",
            "lab",
            "--inventory",
            str(inventory),
            "--credentials",
            str(credentials),
            "--region",
            "eu-west-1",
            "--no-heartbeat",
        ]
    )
    assert code == 1
    assert "kvssink comes from the Amazon KVS producer SDK" in capsys.readouterr().err


def test_run_with_heartbeat_needs_a_region(
    inventory: Path, credentials: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    code = main(
        [
            "proxy",
            "run",
            "--site",
            "lab",
            "--inventory",
            str(inventory),
            "--credentials",
            str(credentials),
            "--sink",
            "fakesink",
        ]
    )
    assert code == 1
    assert "heartbeat needs an AWS region" in capsys.readouterr().err


def test_run_reports_a_busy_metrics_port(
    inventory: Path, credentials: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["proxy", "run", "--site", "lab", "--inventory", str(inventory),
                     "--credentials", str(credentials), "--sink", "fakesink", "--no-heartbeat",
                     "--metrics-port", str(port)])  # fmt: skip
    assert code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in capsys.readouterr().err


def test_run_rejects_an_out_of_range_latency(
    inventory: Path, credentials: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["proxy", "run", "--site", "lab", "--inventory", str(inventory),
                 "--credentials", str(credentials), "--sink", "fakesink", "--no-heartbeat",
                 "--latency-ms", "999999"])  # fmt: skip
    assert code == 1
    assert "latency_ms" in capsys.readouterr().err
