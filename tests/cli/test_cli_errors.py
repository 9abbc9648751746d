"""Every command answers an ordinary mistake with one line and exit 1; usage errors exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from facewatch_tools.cli import main
from facewatch_tools.cli.completion import command_words

ROOT = Path(__file__).resolve().parents[2]
STACK = ["--stack", "facewatch-nope"]

# One invocation per AWS-backed subcommand (each names the stack, so "missing stack" applies).
AWS_COMMANDS: dict[str, list[str]] = {
    "cameras plan": ["cameras", "plan", "--inventory", "cameras.yaml", *STACK],
    "cameras status": ["cameras", "status", "--inventory", "cameras.yaml", *STACK],
    "cameras apply": ["cameras", "apply", "--yes", "--inventory", "cameras.yaml", *STACK],
    "employees enroll": ["employees", "enroll", "EMP-1.jpg", "--id", "EMP-1", *STACK],
    "employees enroll-dir": ["employees", "enroll-dir", "photos", *STACK],
    "employees sync": ["employees", "sync", "photos", "--dry-run", *STACK],
    "employees remove": ["employees", "remove", "EMP-1", *STACK],
    "employees list": ["employees", "list", *STACK],
    "employees check": ["employees", "check", "EMP-1.jpg", *STACK],
    "subscribers add": ["subscribers", "add", "+821012345678", *STACK],
    "subscribers remove": ["subscribers", "remove", "+821012345678", *STACK],
    "subscribers list": ["subscribers", "list", *STACK],
    "alerts test": ["alerts", "test", "--site", "seoul-hq", *STACK],
    "dlq replay": ["dlq", "replay", "slack", *STACK],
    "audit incidents": ["audit", "incidents", *STACK],
    "audit show": ["audit", "show", "INC-1", *STACK],
    "audit set-status": ["audit", "set-status", "INC-1", "acknowledged", *STACK],
    "audit report": [
        "audit",
        "report",
        "--since",
        "2026-01-01",
        "--until",
        "2026-02-01",
        "--out",
        "report.html",
        *STACK,
    ],
    "canary": ["canary", *STACK],
    "consent record": ["consent", "record", "EMP-1", "--method", "paper", "--document", "F-1",
                       *STACK],
    "consent list": ["consent", "list", *STACK],
    "consent withdraw": ["consent", "withdraw", "EMP-1", *STACK],
    "privacy erase-employee": ["privacy", "erase-employee", "EMP-1", *STACK],
    "privacy erase-incident": ["privacy", "erase-incident", "INC-1", *STACK],
    "privacy erase": ["privacy", "erase", "--camera", "c", "--since", "2026-01-01", "--until",
                      "2026-02-01", *STACK],
    "privacy export-subject": ["privacy", "export-subject", "--employee", "EMP-1", *STACK],
    "privacy report": ["privacy", "report", "--inventory", "cameras.yaml", *STACK],
}  # fmt: skip
# The listings again with --output json and csv: the same one line, and nothing on stdout.
LISTINGS = ("cameras plan", "cameras status", "employees list", "subscribers list",
            "audit incidents", "consent list")  # fmt: skip
FAULTED = {
    **AWS_COMMANDS,
    **{f"{name} -o {fmt}": [*AWS_COMMANDS[name], "--output", fmt]
       for name in LISTINGS for fmt in ("json", "csv")},
}  # fmt: skip


def one_line_and_code(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 1) -> str:
    result = main(argv)
    out, err = capsys.readouterr()
    err = err.strip()
    assert result == code, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    if "--output" in argv:  # a listing's document is all or nothing
        assert out == ""
    return err


@pytest.fixture(autouse=True)
def _fresh_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 caches resolved credentials in its default session: earlier tests must not leak."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


@pytest.fixture
def moto_account() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def one_region_inventory(tmp_path: Path) -> None:
    """The shipped inventory as a one-region deployment (a region-naming one takes its regions
    from the file, not from the AWS configuration: tests/regions covers that)."""
    text = (ROOT / "cameras.yaml").read_text()
    (tmp_path / "cameras.yaml").write_text(re.sub(r"\n    region: .*", "", text))
    (tmp_path / "EMP-1.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x01" * 32)  # what enroll reads
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "EMP-1.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x01" * 32)


@pytest.mark.parametrize("name", sorted(FAULTED))
def test_no_credentials(
    name: str, no_credentials: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    err = one_line_and_code(capsys, FAULTED[name])
    assert "no AWS credentials" in err and "aws configure" in err


# cameras.yaml names each site's region, so the cameras commands always have one.
@pytest.mark.parametrize("name", sorted(n for n in FAULTED if not n.startswith("cameras")))
def test_no_region(
    name: str, no_region: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    err = one_line_and_code(capsys, FAULTED[name])
    assert "no AWS region" in err and "--region" in err


@pytest.mark.parametrize("name", sorted(FAULTED))
def test_unreachable_endpoint_fails_fast(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = one_line_and_code(capsys, [*FAULTED[name], "--endpoint-url", "http://127.0.0.1:9"])
    assert "cannot reach http://127.0.0.1:9" in err


@pytest.mark.parametrize("name", sorted(FAULTED))
def test_missing_stack(
    name: str, moto_account: None, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    err = one_line_and_code(capsys, FAULTED[name])
    assert "facewatch-nope" in err and ("not exist" in err or "not found" in err)


# The commands that need no AWS, each with the mistake it meets (a file that is not there).
MISSING_FILES: dict[str, list[str]] = {
    "cameras cost": ["cameras", "cost", "--inventory", "/nonexistent/cameras.yaml"],
    "demo": ["demo", "--scenario", "nope.yaml"],
    "demo report": ["demo", "--report", "/nonexistent/x.html"],
    "replay": ["replay", "/nonexistent/records.jsonl"],
    "audit report": ["audit", "report", "--since", "2026-01-01", "--until", "2026-02-01",
                     "--out", "/nonexistent/x.html", "--table", "t"],
    "local up": ["local", "up", "--inventory", "/nonexistent/cameras.yaml"],
    "cameras cost -o json": ["cameras", "cost", "--inventory", "/nonexistent/cameras.yaml",
                             "--output", "json"],
}  # fmt: skip
NO_LOCAL_STACK = {"local env": ["local", "env"], "local down": ["local", "down"]}
# proxy: its own report and log lines (tests/proxy), met here through the installed command.
PROXY = {
    name: ["proxy", name.split()[1], "--site", "x", "--inventory", "/nonexistent/cameras.yaml"]
    for name in ("proxy check", "proxy run")
}
USAGE_ONLY = {"completion": "takes no input but its shell name (a usage error, exit 2)"}


def test_every_subcommand_meets_a_fault() -> None:
    """Each command of the tree (argparse's own) is run by one of the fault tests above."""
    from facewatch_tools.cli import build_parser  # noqa: PLC0415

    tree = command_words(build_parser())
    leaves = {path for path, words in tree.items() if path and all(w[0] == "-" for w in words)}
    invocations = [*FAULTED.values(), *MISSING_FILES.values(), *NO_LOCAL_STACK.values(),
                   *PROXY.values()]  # fmt: skip
    met = {leaf for leaf in leaves for argv in invocations if argv[: leaf.count(" ") + 1] ==
           leaf.split()}  # fmt: skip
    assert leaves - met - set(USAGE_ONLY) == set(), "give the new command its faults here"


@pytest.mark.parametrize("name", sorted(MISSING_FILES))
def test_missing_files(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_and_code(capsys, MISSING_FILES[name])
    assert "nonexistent" in err or "nope.yaml" in err


@pytest.mark.parametrize("name", sorted(NO_LOCAL_STACK))
def test_no_local_stack(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    err = one_line_and_code(capsys, NO_LOCAL_STACK[name])
    assert "no local stack is running" in err and "facewatch local up" in err


@pytest.mark.parametrize("name", sorted(PROXY))
def test_proxy_missing_inventory(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "facewatch_tools.cli", *PROXY[name]],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    said = (done.stdout + done.stderr).strip()
    assert done.returncode == 1 and "Traceback" not in said
    assert len(said.splitlines()) == 1 and "/nonexistent/cameras.yaml" in said


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "incidents", "--format", "xml"])
    assert exit_info.value.code == 2


def test_debug_shows_the_traceback(
    no_region: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--debug", "audit", "incidents", *STACK]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_profile_anywhere_on_the_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    err = one_line_and_code(capsys, ["audit", "incidents", *STACK, "--profile", "ghost"])
    assert "ghost" in err and "--profile" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("facewatch ")


def test_completion_names_every_command_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete -F _facewatch facewatch" in script
    assert "['audit incidents']=" in script and "--newest-first" in script


def test_completion_table_walks_the_whole_tree() -> None:
    from facewatch_tools.cli import build_parser  # noqa: PLC0415

    table = command_words(build_parser())
    assert {"cameras", "audit", "replay", "completion"} <= set(table[""])
    assert "plan" in table["cameras"]
    assert "--inventory" in table["cameras plan"]


def test_bash_completes_from_the_script(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "facewatch.bash"
    script.write_text(capsys.readouterr().out)
    probe = (
        f"source {script}; COMP_WORDS=(facewatch cameras plan --inv); COMP_CWORD=3; "
        '_facewatch; echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["--inventory"]
