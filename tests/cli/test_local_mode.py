"""`facewatch local up | env | down`: every command can be tried against a local stack."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def facewatch(
    env: dict[str, str], *argv: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facewatch_tools.cli", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, check=check, timeout=240,
    )  # fmt: skip


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("state")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base["XDG_STATE_HOME"] = str(state)
    up = facewatch(base, "local", "up", "--detach")
    assert "up at http://127.0.0.1:" in up.stdout
    exports = facewatch(base, "local", "env").stdout
    env = dict(base)
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    try:
        yield env
    finally:
        down = facewatch(base, "local", "down", check=False)
        assert down.returncode == 0, down.stderr
        assert not (state / "facewatch" / "local.json").exists()


def test_env_points_at_the_local_stack(local_env: dict[str, str]) -> None:
    assert local_env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert local_env["FACEWATCH_STACK"] == "facewatch-dev"


def test_canary_and_audit_against_the_local_stack(local_env: dict[str, str]) -> None:
    canary = facewatch(local_env, "canary", "--timeout", "120")
    assert canary.stdout.startswith("canary OK on facewatch-dev")
    listing = facewatch(local_env, "audit", "incidents", "--format", "json")
    assert listing.returncode == 0


def test_subscribers_and_dlq_against_the_local_stack(local_env: dict[str, str]) -> None:
    facewatch(local_env, "subscribers", "add", "+821012345678")
    assert "+821012345678" in facewatch(local_env, "subscribers", "list").stdout
    assert "0 kept in the DLQ" in facewatch(local_env, "dlq", "replay", "slack").stdout


def test_what_moto_lacks_is_one_line(local_env: dict[str, str]) -> None:
    employees = facewatch(local_env, "employees", "list", check=False)
    assert employees.returncode == 1
    assert len(employees.stderr.strip().splitlines()) == 1
    assert "not emulated locally" in employees.stderr


def test_a_second_up_reports_the_running_stack(local_env: dict[str, str]) -> None:
    again = facewatch(local_env, "local", "up", "--detach")
    assert "already running" in again.stdout and "AWS_ENDPOINT_URL" in again.stdout


def test_down_without_a_stack_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    done = facewatch(env, "local", "down", check=False)
    assert done.returncode == 1 and "no local stack is running" in done.stderr
