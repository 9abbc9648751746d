"""A newcomer's path: `facewatch local up`, then `cameras plan/apply/status` with the shipped
cameras.yaml (two regions) and camera-template.yaml, then the clip endpoint, then `local down`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

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
    base.pop("FACEWATCH_STACK", None)
    up = facewatch(base, "local", "up", "--detach")
    assert "in ap-northeast-2, eu-central-1" in up.stdout  # every region cameras.yaml names
    env = dict(base)
    for line in facewatch(base, "local", "env").stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    env["FACEWATCH_TEST_STATE"] = str(state / "facewatch" / "local.json")
    try:
        yield env
    finally:
        down = facewatch(base, "local", "down", check=False)
        assert down.returncode == 0, down.stderr


def summary_rows(status: str) -> list[list[str]]:
    """The region summary's rows: region, main stack status, deployed."""
    return [line.split()[:3] for line in status.split("\nregions:\n", 1)[1].splitlines()]


def test_cameras_deploy_in_every_region_of_the_local_stack(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    plan = facewatch(local_env, "cameras", "plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.count("CAMERA_ID") == 2  # both regions answered, a plan table each

    apply = facewatch(local_env, "cameras", "apply", "--yes")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    for stack in ("seoul-hq-lobby-01", "seoul-hq-dock-01", "berlin-reception-01"):
        assert f"facewatch-dev-cam-{stack}: CREATE_COMPLETE" in apply.stdout

    status = facewatch(local_env, "cameras", "status").stdout
    assert ["ap-northeast-2", "CREATE_COMPLETE", "2/2"] in summary_rows(status)
    assert ["eu-central-1", "CREATE_COMPLETE", "1/1"] in summary_rows(status)

    again = facewatch(local_env, "cameras", "apply", "--yes").stdout
    assert again.count("nothing to do") == 2

    shipped = yaml.safe_load((ROOT / "cameras.yaml").read_text())
    shipped["cameras"] = [c for c in shipped["cameras"] if c["id"] != "seoul-hq-dock-01"]
    smaller = tmp_path / "cameras.yaml"
    smaller.write_text(yaml.safe_dump(shipped))
    pruned = facewatch(
        local_env, "cameras", "apply", "--yes", "--prune", "--inventory", str(smaller)
    )
    assert pruned.returncode == 0, pruned.stdout
    assert "delete facewatch-dev-cam-seoul-hq-dock-01" in pruned.stdout
    status = facewatch(local_env, "cameras", "status", "--inventory", str(smaller)).stdout
    assert "seoul-hq-dock-01" not in status
    assert ["ap-northeast-2", "CREATE_COMPLETE", "1/1"] in summary_rows(status)


def test_the_clip_endpoint_answers_and_checks_signatures(local_env: dict[str, str]) -> None:
    session = json.loads(Path(local_env["FACEWATCH_TEST_STATE"]).read_text())
    for url in session["regions"].values():
        assert url.startswith("http://127.0.0.1:")
        forged = f"{url}/clips/INC-NOTREAL?exp=4102444800&sig=AAAA"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=30)
        assert refused.value.code == 403


def test_alerts_test_reaches_the_local_slack_and_sms(local_env: dict[str, str]) -> None:
    sent = facewatch(local_env, "alerts", "test", "--site", "seoul-hq", check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "Slack app, route" in sent.stdout and ": ok, channel C" in sent.stdout
    assert "SMS to the site's and the org-wide phones" in sent.stdout
