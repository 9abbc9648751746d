"""The built layer and functions carry their bytecode for the Lambda runtime's Python."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from facewatch_tools.template import ROOT, load_template

BUILD_DIR = ROOT / ".aws-sam" / "build"


def build_commands() -> list[list[str]]:
    dry = subprocess.run(
        ["make", "-n", "-o", ".tools/.installed", "-o", ".venv/.installed", "build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [shlex.split(line) for line in dry.splitlines() if line.strip()]


def runtime_python() -> str:
    runtime = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Runtime"]
    assert isinstance(runtime, str) and re.fullmatch(r"python3\.\d+", runtime)
    return runtime


def test_make_build_compiles_the_build_with_the_runtime_python_after_sam_build() -> None:
    commands = build_commands()
    sam = next(i for i, c in enumerate(commands) if "build" in c and any("sam" in w for w in c))
    compile_step = commands[sam + 1]
    assert runtime_python() in compile_step  # a 3.11 .pyc is ignored by the 3.13 runtime
    i = compile_step.index("compileall")
    assert compile_step[i - 1] == "-m"
    assert compile_step[-1] == ".aws-sam/build"  # the layer and every function
    mode = compile_step[compile_step.index("--invalidation-mode") + 1]
    assert mode == "unchecked-hash"


def test_unchecked_hash_bytecode_does_not_depend_on_source_times(tmp_path: Path) -> None:
    """What the mode means: the .pyc is valid whatever mtime the zip gives the source."""
    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("VALUE = 1\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            str(tmp_path),
        ],
        check=True,
    )
    (pyc,) = (tmp_path / "pkg" / "__pycache__").glob("mod.*.pyc")
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source never checked


@pytest.mark.skipif(not BUILD_DIR.exists(), reason="no `make build` output here")
def test_the_built_artifacts_hold_bytecode_for_every_module() -> None:
    tag = "cpython-" + runtime_python().removeprefix("python").replace(".", "")
    missing = [
        py
        for py in BUILD_DIR.rglob("*.py")
        if not (py.parent / "__pycache__" / f"{py.stem}.{tag}.pyc").exists()
    ]
    assert missing == [], missing[:5]
