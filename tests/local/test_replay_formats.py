"""`facewatch replay` reads the shapes records come in (no local stack needed for the reading)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from facewatch_tools.cli.local import read_lines, reject_reason
from facewatch_tools.frames import FaceSpec, frame_record
from tests.conftest import EVENTS

RECORD = frame_record("lobby-01", 1795000000.0, [FaceSpec()])


def _records(tmp_path: Path, text: str) -> list[tuple[int, bool]]:
    path = tmp_path / "input"
    path.write_text(text)
    return [(n, line.record is not None) for n, line in read_lines(path)]


def test_json_lines_a_document_and_an_array(tmp_path: Path) -> None:
    line = json.dumps(RECORD)
    assert _records(tmp_path, f"{line}\n{line}\n") == [(1, True), (2, True)]
    assert _records(tmp_path, json.dumps(RECORD, indent=2)) == [(1, True)]
    assert _records(tmp_path, json.dumps([RECORD, RECORD])) == [(1, True), (2, True)]


def test_kinesis_shapes_and_base64(tmp_path: Path) -> None:
    data = base64.b64encode(json.dumps(RECORD).encode()).decode()
    envelope = json.dumps({"partitionKey": "cam", "data": data})
    assert _records(tmp_path, envelope + "\n") == [(1, True)]
    assert _records(tmp_path, data + "\n") == [(1, True)]
    event = (EVENTS / "kds_unknown_face.json").read_text()
    found = _records(tmp_path, event)
    assert found and all(ok for _, ok in found)


def test_rejects_have_a_line_number_and_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "input"
    path.write_text(json.dumps(RECORD) + '\n{"InputInformation": {}}\n')
    [(_, good), (number, bad)] = read_lines(path)
    assert good.record is not None and bad.record is None
    assert number == 2
    assert "InputInformation" in reject_reason(bad)
