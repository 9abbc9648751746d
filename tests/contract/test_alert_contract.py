"""The alert event is a public contract: schema file current, sample valid, old events readable."""

from __future__ import annotations

import json

import pytest

from facewatch.alerts.event import ALERT_DETAIL_TYPE, AlertDetail
from facewatch.alerts.updated import UPDATED_DETAIL_TYPE, IncidentUpdatedDetail
from facewatch_tools.schemas import PUBLIC_EVENTS, SCHEMA_DIR, render
from tests.conftest import load_event


@pytest.mark.parametrize("name", sorted(PUBLIC_EVENTS))
def test_schema_files_are_current(name: str) -> None:
    on_disk = (SCHEMA_DIR / f"{name}.schema.json").read_text()
    assert on_disk == render(name), "run: python -m facewatch_tools.schemas"


def test_sample_alert_event_is_valid() -> None:
    event = load_event("alert_event.json")
    assert event["detail-type"] == ALERT_DETAIL_TYPE
    assert event["source"] == "facewatch"
    detail = AlertDetail.model_validate(event["detail"])
    assert detail.schema_version == "1.2"
    assert detail.closest_employee is not None


def test_round_trip_keeps_the_wire_names() -> None:
    detail = AlertDetail.model_validate(load_event("alert_event.json")["detail"])
    wire = json.loads(detail.model_dump_json(by_alias=True))
    assert {
        "incidentId",
        "cameraId",
        "streamArn",
        "firstSeen",
        "lastSeen",
        "bestFace",
        "clip",
    } <= set(wire)


def test_minimal_v1_event_from_an_older_producer_still_parses() -> None:
    minimal = {
        "schemaVersion": "1.0",
        "incidentId": "INC-ABCDEFGHIJKL",
        "cameraId": "cam-1",
        "streamArn": "arn:aws:kinesisvideo:eu-west-1:111122223333:stream/cam-1/1",
        "firstSeen": "2026-01-01T00:00:00Z",
        "lastSeen": "2026-01-01T00:00:05Z",
        "detections": 2,
        "bestFace": {
            "boundingBox": {"width": 0.1, "height": 0.2, "left": 0.3, "top": 0.4},
            "confidence": 99,
            "quality": {},
        },
        "someFutureField": {"ignored": True},
    }
    detail = AlertDetail.model_validate(minimal)
    assert detail.clip is None and detail.location is None and detail.test is False


def test_sample_incident_updated_event_is_valid_and_complete() -> None:
    event = load_event("incident_updated_event.json")
    assert (event["source"], event["detail-type"]) == ("facewatch", UPDATED_DETAIL_TYPE)
    detail = IncidentUpdatedDetail.model_validate(event["detail"])
    schema = json.loads((SCHEMA_DIR / "incident-updated.schema.json").read_text())
    wire = json.loads(detail.model_dump_json(by_alias=True))
    assert set(wire) == set(schema["properties"])  # what face_events sends is what is documented
    assert set(schema["required"]) <= set(event["detail"])
