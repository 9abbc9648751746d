"""Subject access (GDPR Art. 15): what facewatch holds about one employee, where, since when.

Never other people's faces: incidents that name the employee as the closest match are listed by
id, camera, time and similarity only (the unknown face in them is someone else).

Each region's stack holds its own data (one main stack per region): :func:`export_subject`
answers for one region, :func:`across_regions` joins the regions' answers into one export, a
section per region and every dated entry on one timeline, and names the regions not reached
(the export is incomplete until they answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from facewatch.detections.incidents import IncidentState
from facewatch.fleet.employees import AuditLog
from facewatch.privacy.certificates import RegionNotReached
from facewatch.privacy.erasure import PrivacyStores, scan_items


class HeldItem(BaseModel):
    model_config = ConfigDict(frozen=True)
    store: str
    category: str
    since: str | None
    entries: list[dict[str, Any]]
    dated_by: str | None = Field(
        default=None, description="the entries' ISO-8601 UTC time field; None: undated"
    )


class SubjectExport(BaseModel):
    model_config = ConfigDict(frozen=True)
    employee_id: str
    region: str
    held: list[HeldItem]

    @property
    def empty(self) -> bool:
        return not any(h.entries for h in self.held)


def export_subject(stores: PrivacyStores, employee_id: str, audit: AuditLog) -> SubjectExport:
    ledger = stores.consent
    consent = [r.model_dump(mode="json", exclude_none=True) for r in ledger.history(employee_id)]
    events = [e.model_dump(mode="json", exclude_none=True) for e in audit.history(employee_id)]
    held = [
        HeldItem(
            store=f"dynamodb:{ledger.table.name}",
            category="consent records (method, document reference)",
            since=consent[0]["at"] if consent else None,
            entries=consent,
            dated_by="at",
        ),
        HeldItem(
            store=f"dynamodb:{stores.incidents_table}",
            category="enrollment audit (photo file name and SHA-256, never the image)",
            since=events[0]["at"] if events else None,
            entries=events,
            dated_by="at",
        ),
    ]
    if stores.collection is not None:
        faces = [
            {
                "faceId": f["FaceId"],
                "imageId": f.get("ImageId"),
                "confidence": f.get("Confidence"),
                "model": f.get("IndexFacesModelVersion"),
            }
            for f in stores.collection.faces_of(employee_id)
        ]
        held.append(
            HeldItem(
                store=f"rekognition:{stores.collection.collection_id}",
                category="face templates (feature vectors; AWS does not export them)",
                since=None,
                entries=faces,
            )
        )
    hints = []
    for item in scan_items(
        stores.dynamodb,
        TableName=stores.incidents_table,
        FilterExpression="SK = :sk AND contains(incident, :id)",
        ExpressionAttributeValues={":sk": {"S": "INCIDENT"}, ":id": {"S": employee_id}},
    ):
        incident = IncidentState.model_validate_json(item["incident"]["S"])
        similarities = [
            c.similarity for c in incident.band_tally.candidates if c.employee_id == employee_id
        ]
        if incident.closest and incident.closest.employee_id == employee_id:
            similarities.append(incident.closest.similarity)
        if similarities:
            hints.append(
                {
                    "incidentId": incident.incident_id,
                    "cameraId": incident.camera_id,
                    "firstSeen": item["firstSeen"]["S"],
                    "similarity": max(similarities),
                }
            )
    hints.sort(key=lambda h: str(h["firstSeen"]))
    held.append(
        HeldItem(
            store=f"dynamodb:{stores.incidents_table}",
            category="incidents naming the employee as closest (below-threshold) match",
            since=hints[0]["firstSeen"] if hints else None,
            entries=hints,
            dated_by="firstSeen",
        )
    )
    return SubjectExport(employee_id=employee_id, region=stores.region, held=held)


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: str
    region: str
    store: str
    category: str
    entry: dict[str, Any]


class SubjectAccess(BaseModel):
    """The answer to one subject-access request, across every region of the deployment."""

    model_config = ConfigDict(frozen=True)
    employee_id: str
    complete: bool = Field(description="every region answered (else see not_reached)")
    regions: list[SubjectExport] = Field(description="what each region holds, in its stores")
    not_reached: list[RegionNotReached]
    timeline: list[TimelineEntry] = Field(
        description="every dated entry of every region, oldest first (faces have no date)"
    )


def across_regions(
    employee_id: str, exports: Sequence[SubjectExport], not_reached: Sequence[RegionNotReached]
) -> SubjectAccess:
    """One export of the regions' answers. Every facewatch time is ISO-8601 UTC with
    milliseconds and Z (timestamps.iso), so the strings sort as times do; the sort is stable:
    equal times keep the region order and each store's own order."""
    timeline = [
        TimelineEntry(
            at=str(entry[held.dated_by]),
            region=export.region,
            store=held.store,
            category=held.category,
            entry=entry,
        )
        for export in exports
        for held in export.held
        if held.dated_by is not None
        for entry in held.entries
    ]
    timeline.sort(key=lambda t: t.at)
    return SubjectAccess(
        employee_id=employee_id,
        complete=not not_reached,
        regions=list(exports),
        not_reached=list(not_reached),
        timeline=timeline,
    )
