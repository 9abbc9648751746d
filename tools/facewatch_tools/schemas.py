"""JSON Schemas of facewatch's public events, exported into schemas/ (a test keeps them current).

Run ``python -m facewatch_tools.schemas`` after changing an event model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from facewatch.alerts.event import ALERT_DETAIL_TYPE, ALERT_SCHEMA_VERSION, AlertDetail
from facewatch.alerts.merged import MERGED_DETAIL_TYPE, MERGED_SCHEMA_VERSION, IncidentMergedDetail
from facewatch.alerts.updated import (
    UPDATED_DETAIL_TYPE,
    UPDATED_SCHEMA_VERSION,
    IncidentUpdatedDetail,
)
from facewatch.audit.lifecycle import (
    STATUS_CHANGED_DETAIL_TYPE,
    STATUS_CHANGED_SCHEMA_VERSION,
    StatusChangedDetail,
)
from facewatch.fleet import health
from facewatch_tools.template import ROOT

SCHEMA_DIR = ROOT / "schemas"
PUBLIC_EVENTS: dict[str, tuple[str, str, type[BaseModel]]] = {
    "unknown-face-detected": (ALERT_DETAIL_TYPE, ALERT_SCHEMA_VERSION, AlertDetail),
    "incident-merged": (MERGED_DETAIL_TYPE, MERGED_SCHEMA_VERSION, IncidentMergedDetail),
    "incident-updated": (UPDATED_DETAIL_TYPE, UPDATED_SCHEMA_VERSION, IncidentUpdatedDetail),
    "incident-status-changed": (
        STATUS_CHANGED_DETAIL_TYPE,
        STATUS_CHANGED_SCHEMA_VERSION,
        StatusChangedDetail,
    ),
    "camera-health-changed": (
        health.DETAIL_TYPE,
        health.SCHEMA_VERSION,
        health.CameraHealthChanged,
    ),
}


def schema_of(detail_type: str, version: str, model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"{detail_type} (detail), schemaVersion {version}"
    schema["description"] = (
        f"EventBridge source 'facewatch', detail-type '{detail_type}'. "
        + (model.__doc__ or "").strip()
    )
    return schema


def render(name: str) -> str:
    return json.dumps(schema_of(*PUBLIC_EVENTS[name]), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for name in PUBLIC_EVENTS:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
