"""Finding 9: `audit incidents --format csv` never writes a cell a spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from facewatch.audit.history import IncidentRecord
from facewatch_tools.cli.audit import write_incidents

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _record(**fields: str) -> IncidentRecord:
    base: dict[str, object] = {
        "incident_id": "inc-1",
        "camera_id": "hq-lobby",
        "site_id": "hq",
        "stream_arn": "arn:aws:kinesisvideo:ap-northeast-2:123456789012:stream/hq-lobby/1",
        "first_seen": AT,
        "last_seen": AT,
        "detections": 3,
        "status": "acknowledged",
        "first_response_at": AT,
    }
    return IncidentRecord.model_validate(base | fields)


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("https://evil.example","open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
     "\t=1"],
)  # fmt: skip
def test_formula_starts_are_written_as_text(value: str) -> None:
    out = io.StringIO()
    write_incidents([_record(first_response_by=value, site_id=value)], "csv", out)
    row = next(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["firstResponseBy"] == "'" + value
    assert row["siteId"] == "'" + value


def test_ordinary_values_are_unchanged() -> None:
    out = io.StringIO()
    write_incidents([_record(first_response_by="U0123ABC")], "csv", out)
    row = next(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["firstResponseBy"] == "U0123ABC"
    assert row["firstSeen"] == "2026-03-01T00:00:00Z"
