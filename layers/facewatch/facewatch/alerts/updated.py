"""``Incident Updated``: an incident whose alert went out has grown.

face_events publishes it when a batch changes an alerted incident (more frames, a later last
seen, a clearer best face or a closer possible employee), in the same PutEvents calls as the
batch's alerts, at most once per incident per SLACK_UPDATE_MIN_INTERVAL_SECONDS. It is a live
hint, not an obligation: one lost to a failure is not retried (the alert ticker brings every
message up to date within a minute), and it never goes out before the incident's alert did.
The Slack notifier re-renders the incident's message from the incident item, which is at least
as new as this event; the detail says what the incident was when it was published.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from facewatch.alerts.event import BestFace, ClosestEmployee, ContractModel, UtcTime

UPDATED_DETAIL_TYPE = "Incident Updated"
UPDATED_SCHEMA_VERSION: Literal["1.0"] = "1.0"


class IncidentUpdatedDetail(ContractModel):
    """detail of ``Incident Updated``: an alerted incident as it is after a batch changed it."""

    schema_version: Literal["1.0"] = UPDATED_SCHEMA_VERSION
    incident_id: str
    camera_id: str
    first_seen: UtcTime
    last_seen: UtcTime
    detections: int = Field(ge=1, description="Frames with an unknown face so far")
    best_face: BestFace = Field(description="The clearest unknown face so far")
    closest_employee: ClosestEmployee | None = None
    updated_at: UtcTime = Field(description="When face_events published it (its own clock)")
    test: bool = Field(default=False, description="A canary's incident: notifiers skip it")
