"""``Incident Merged``: a late frame showed that two incidents were one visit.

The absorbed incident had alerted already, so notifiers can say "part of <survivor>" instead of
leaving two open alerts for one visitor. Published once per absorbed incident that alerted;
an absorbed incident that had not alerted never alerts and is never announced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from facewatch.alerts.event import ContractModel, UtcTime

MERGED_DETAIL_TYPE = "Incident Merged"
MERGED_SCHEMA_VERSION: Literal["1.0"] = "1.0"


class IncidentMergedDetail(ContractModel):
    """detail of ``Incident Merged``: the absorbed incident (which alerted) and its survivor."""

    schema_version: Literal["1.0"] = MERGED_SCHEMA_VERSION
    incident_id: str = Field(description="The absorbed incident (status merged from now on)")
    merged_into: str = Field(description="The surviving incident, which covers the whole visit")
    camera_id: str
    first_seen: UtcTime = Field(description="The survivor's first frame, after the merge")
    last_seen: UtcTime = Field(description="The survivor's latest frame, after the merge")
    detections: int = Field(ge=1, description="The survivor's frames, after the merge")
    test: bool = Field(default=False, description="A canary's merge: never page anyone")
