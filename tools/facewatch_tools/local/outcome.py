"""What the pipeline did, read back from the stack: incidents (alerted or not) and alerts.

face_events writes an incident item only once an incident alerts; the incidents still below
MIN_DETECTIONS live in their camera's state item (``PK=CAMERA#<cam>, SK=STATE``). Both are read
so the list is complete. The clip URL is in the alert event only (the incident keeps its status).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.detections.incidents import CameraState
from facewatch.detections.store import deserialize
from facewatch.timestamps import iso
from facewatch_tools.local.eventbridge import BusEvent


@dataclass(frozen=True, slots=True)
class IncidentRow:
    incident_id: str
    camera_id: str
    first_seen: str
    last_seen: str
    detections: int
    alerted: bool
    clip_url: str | None
    closest_employee: str | None = None
    band: str = "unknown"
    closest_similarity: float | None = None
    merged_into: str | None = None  # absorbed by this incident (a late frame bridged them)

    def as_json(self) -> dict[str, Any]:
        closest = (
            {"employeeId": self.closest_employee, "similarity": self.closest_similarity}
            if self.closest_employee
            else None
        )
        return {
            "incidentId": self.incident_id,
            "cameraId": self.camera_id,
            "firstSeen": self.first_seen,
            "lastSeen": self.last_seen,
            "detections": self.detections,
            "alerted": self.alerted,
            "clipUrl": self.clip_url,
            "band": self.band,
            "closestEmployee": closest,
            "mergedInto": self.merged_into,
        }


def _scan(dynamodb: Any, table: str) -> Iterable[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            yield deserialize(item)


def clip_urls(events: Iterable[BusEvent]) -> dict[str, str]:
    urls = {}
    for event in events:
        if event.detail_type == ALERT_DETAIL_TYPE:
            clip = event.detail.get("clip") or {}
            if clip.get("url"):
                urls[str(event.detail.get("incidentId"))] = str(clip["url"])
    return urls


def list_incidents(
    dynamodb: Any, table: str, events: Iterable[BusEvent], min_detections: int = 2
) -> list[IncidentRow]:
    """``min_detections``: the stack's MIN_DETECTIONS (an incident's band depends on it)."""
    clips = clip_urls(events)
    rows: dict[str, IncidentRow] = {}
    for item in _scan(dynamodb, table):
        if item.get("SK") == "STATE" and str(item.get("PK", "")).startswith("CAMERA#"):
            state = CameraState.model_validate_json(item["state"])
            for merge in state.merges:  # absorbed before alerting: only the state knows them
                rows.setdefault(
                    merge.incident_id,
                    IncidentRow(
                        incident_id=merge.incident_id,
                        camera_id=state.camera_id,
                        first_seen="",
                        last_seen="",
                        detections=0,
                        alerted=merge.alerted,
                        clip_url=None,
                        merged_into=merge.merged_into,
                    ),
                )
            for incident in state.incidents:
                rows.setdefault(
                    incident.incident_id,
                    IncidentRow(
                        incident_id=incident.incident_id,
                        camera_id=incident.camera_id,
                        first_seen=iso(incident.first_seen),
                        last_seen=iso(incident.last_seen),
                        detections=incident.detections,
                        alerted=incident.alerted,
                        clip_url=clips.get(incident.incident_id),
                        closest_employee=incident.closest.employee_id if incident.closest else None,
                        band=incident.band(min_detections).value,
                        closest_similarity=incident.closest.similarity
                        if incident.closest
                        else None,
                    ),
                )
    for item in _scan(dynamodb, table):
        if item.get("SK") == "INCIDENT":
            incident_id = str(item["incidentId"])
            known = rows.get(incident_id)
            rows[incident_id] = IncidentRow(
                incident_id=incident_id,
                camera_id=str(item["cameraId"]),
                first_seen=str(item["firstSeen"]),
                last_seen=str(item["lastSeen"]),
                detections=int(item["detections"]),
                alerted=True,
                clip_url=clips.get(incident_id),
                closest_employee=known.closest_employee if known else None,
                band=known.band if known else "unknown",
                closest_similarity=known.closest_similarity if known else None,
                merged_into=str(item["mergedInto"]) if item.get("mergedInto") else None,
            )
    return sorted(rows.values(), key=lambda r: (r.first_seen, r.incident_id))


def alert_latencies(
    puts: Iterable[tuple[float, str, bool, float]],
    alerts: Iterable[BusEvent],
    min_detections: int,
) -> dict[str, float]:
    """Seconds from the record that made each incident alert to its alert event on the bus.

    ``puts``: (frame time, camera id, has an unknown face, wall time it was put). The record
    that makes an incident alert is its MIN_DETECTIONS-th unknown frame from ``firstSeen``.
    Returns incident id -> latency.
    """
    by_camera: dict[str, list[tuple[float, float]]] = {}
    for frame_time, camera, unknown, put_at in puts:
        if unknown:
            by_camera.setdefault(camera, []).append((frame_time, put_at))
    for frames in by_camera.values():
        frames.sort()
    out: dict[str, float] = {}
    for event in alerts:
        if event.detail_type != ALERT_DETAIL_TYPE:
            continue
        detail = event.detail
        camera = str(detail.get("cameraId"))
        first = _epoch(str(detail.get("firstSeen")))
        frames = [f for f in by_camera.get(camera, []) if f[0] >= first - 1e-3]
        if len(frames) >= min_detections:
            out[str(detail.get("incidentId"))] = event.seen_at - frames[min_detections - 1][1]
    return out


def _epoch(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
