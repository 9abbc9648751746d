"""`facewatch replay`: JSON Lines of processor records through the local pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facewatch_tools.cli import main
from tests.local.conftest import sample_lines

pytestmark = pytest.mark.integration


def _replay(tmp_path: Path, lines: list[str], capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object and nothing else
    result: dict = json.loads(out)  # type: ignore[type-arg]
    return result


def test_the_aws_samples_give_the_documented_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _replay(tmp_path, sample_lines(), capsys)
    assert set(result) == {"records", "rejected", "faces", "incidents", "notifications"}
    assert result["records"] == 5
    assert result["rejected"] == 0
    # unknown-face (x2), employee-face, employee-and-unknown (one of each), no-face
    assert result["faces"] == {"known": 2, "unknown": 3, "ignored": 0}
    [incident] = result["incidents"]
    assert set(incident) == {
        "incidentId",
        "cameraId",
        "firstSeen",
        "lastSeen",
        "detections",
        "alerted",
        "clipUrl",
        "band",
        "closestEmployee",
    }
    assert incident["cameraId"] == "seoul-hq-lobby-01"
    # 3 frames with an unknown face; unknown-face.json and its exponent twin are one frame
    # (same fragment and offset), so it counts once
    assert incident["detections"] == 2
    assert incident["alerted"] is True
    assert incident["firstSeen"].endswith("Z") and incident["firstSeen"] <= incident["lastSeen"]
    assert incident["clipUrl"] is None  # alerts carry no HLS URL by default
    assert (incident["band"], incident["closestEmployee"]) == ("unknown", None)
    assert set(result["notifications"]) == {"slack", "sms"}


def test_malformed_lines_are_rejected_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = json.dumps({"partitionKey": "cam", "data": json.loads(sample_lines()[0])})
    lines = ["{not json", '{"InputInformation": {}}', envelope, "[1, 2]"]
    result = _replay(tmp_path, lines, capsys)
    assert result["records"] == 4
    assert result["rejected"] == 3
    assert result["faces"]["unknown"] == 1
    assert [i["alerted"] for i in result["incidents"]] == [False]


def test_settings_come_from_the_calling_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACE_MATCH_THRESHOLD", "99")  # the employee's 97.82 is no match now
    monkeypatch.setenv("MIN_DETECTIONS", "5")
    monkeypatch.setenv("TABLE_NAME", "not-the-stack-table")  # a resource: never overridden
    result = _replay(tmp_path, sample_lines(), capsys)
    assert result["faces"] == {"known": 0, "unknown": 5, "ignored": 0}
    [incident] = result["incidents"]
    assert incident["detections"] == 3  # 4 frames, one of them twice (the exponent sample)
    assert incident["alerted"] is False


def test_a_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--json"]) == 2
    assert "no such file" in capsys.readouterr().err
