"""`facewatch replay` end to end through the installed entry point: every input shape, a
``line N: reason`` per reject on stderr, and the exit code (0 when something was replayed, 1
when nothing could be). The reading alone: tests/local/test_replay_formats.py."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from facewatch_tools.cli import main
from facewatch_tools.frames import FaceSpec, frame_record
from tests.conftest import EVENTS

FACEWATCH = Path(sys.executable).parent / "facewatch"  # the console script pip installed
RECORD = frame_record("seoul-hq-lobby-01", 1795000000.0, [FaceSpec()])
REJECT = re.compile(r"^line (\d+): (.+)$")


def facewatch(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MIN_DETECTIONS",)}
    return subprocess.run(
        [str(FACEWATCH), *argv], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def rejects(stderr: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in map(REJECT.match, stderr.splitlines()) if m}


@pytest.mark.integration
@pytest.mark.slow
def test_a_lambda_kinesis_event_with_bad_records() -> None:
    """events/kds_malformed.json: 2 good records, then bad JSON, a record without its video
    fields, bytes that are not UTF-8 and data that is not base64 (records 3 to 6)."""
    done = facewatch("replay", str(EVENTS / "kds_malformed.json"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    found = rejects(done.stderr)
    assert sorted(found) == [3, 4, 5, 6]
    assert "InputInformation.KinesisVideo: missing" in found[4]
    assert all(reason.startswith("invalid record: ") for reason in found.values())
    assert done.stdout.startswith("6 records, 4 rejected;")


@pytest.mark.integration
@pytest.mark.slow
def test_json_lines_of_every_shape_with_bad_lines(tmp_path: Path) -> None:
    compact = json.dumps(RECORD)
    encoded = base64.b64encode(compact.encode()).decode()
    lines = [
        compact,  # 1: the record as the stream processor writes it
        "{not json",  # 2
        json.dumps({"partitionKey": "cam", "data": encoded}),  # 3: a Kinesis record, base64
        encoded,  # 4: base64 data alone
        json.dumps({"InputInformation": {}}),  # 5
        json.dumps({"partitionKey": "cam", "data": RECORD}),  # 6: its data as JSON
        "",  # blank lines are not records
        json.dumps([1, 2]),  # 8
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = facewatch("replay", str(path))
    assert done.returncode == 0, done.stderr
    found = rejects(done.stderr)
    assert sorted(found) == [2, 5, 8]
    assert "InputInformation" in found[5]
    assert done.stdout.startswith("7 records, 3 rejected;")


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("{not json\n[1]\n", [1, 2]),  # JSON lines
        (json.dumps({"InputInformation": {}}, indent=2), [1]),  # a pretty-printed document
        (json.dumps([{"InputInformation": {}}, {"a": 1}]), [1, 2]),  # an array
        (json.dumps({"partitionKey": "cam", "data": "bm90IGEgcmVjb3Jk"}), [1]),  # base64 of junk
        (
            json.dumps({"Records": [{"kinesis": {"partitionKey": "p", "data": "e30="}}] * 2}),
            [1, 2],
        ),  # a Lambda Kinesis event of two empty records
    ],
    ids=["json-lines", "document", "array", "kinesis-record", "lambda-event"],
)
def test_nothing_replayable_exits_1(
    text: str, numbers: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "records"
    path.write_text(text)
    assert main(["replay", str(path)]) == 1
    out, err = capsys.readouterr()
    assert sorted(rejects(err)) == numbers
    assert "nothing to replay" in err and "Traceback" not in err
    assert out.startswith(f"{len(numbers)} records, {len(numbers)} rejected;")
    assert main(["replay", str(path), "--output", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["records"], result["rejected"], result["incidents"]) == (
        len(numbers), len(numbers), [],
    )  # fmt: skip


def test_an_empty_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    assert main(["replay", str(path)]) == 1
    assert capsys.readouterr().out.startswith("0 records, 0 rejected;")


@pytest.mark.integration
@pytest.mark.slow
def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    """MIN_DETECTIONS=abc made every invocation fail unseen: "1 records, 0 rejected", exit 0."""
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    env = dict(os.environ, MIN_DETECTIONS="abc")
    done = subprocess.run(
        [str(FACEWATCH), "replay", str(path)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()  # one line, naming the variable
    assert "bad setting" in line and "MIN_DETECTIONS" in line
