"""The alert event: the public contract of facewatch on its EventBridge bus.

``source = "facewatch"``, ``detail-type = "Unknown Face Detected"``, ``detail`` = ``AlertDetail``.
Versioned with ``schemaVersion`` (semver major.minor): minor versions only add optional fields;
a major version is a new detail-type suffix. The JSON Schema lives in
``schemas/unknown-face-detected.schema.json`` and a test keeps it in step with this model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from facewatch.timestamps import iso

SOURCE = "facewatch"
# On the wire: ISO-8601 UTC with milliseconds and Z, e.g. 2026-11-18T11:06:40.400Z
UtcTime = Annotated[
    datetime,
    PlainSerializer(lambda value: iso(value.timestamp()), return_type=str, when_used="json"),
]
ALERT_DETAIL_TYPE = "Unknown Face Detected"
ALERT_SCHEMA_VERSION: Literal["1.2"] = "1.2"
# 1.1 added location.slackRoute (optional); 1.2 added band, hint and page, and
# location.severity (optional, defaults are what earlier events meant); 1.0 and 1.1 events
# still validate.
Severity = Literal["low", "normal", "high"]


class ContractModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields tolerated for forward compat."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class FaceBox(ContractModel):
    width: float = Field(ge=0, le=1, description="Fraction of the frame width")
    height: float = Field(ge=0, le=1, description="Fraction of the frame height")
    left: float
    top: float


class FaceQualityOut(ContractModel):
    brightness: float | None = None
    sharpness: float | None = None


class BestFace(ContractModel):
    """The clearest unknown face of the incident (largest box times confidence)."""

    bounding_box: FaceBox
    confidence: float = Field(ge=0, le=100)
    quality: FaceQualityOut


class ClosestEmployee(ContractModel):
    """The best employee match in the possible band (at or above POSSIBLE_MATCH_FLOOR, below
    FACE_MATCH_THRESHOLD): a hint, never a recognition."""

    employee_id: str
    similarity: float = Field(ge=0, le=100)


class Clip(ContractModel):
    url: str = Field(
        description="HLS (LIVE_REPLAY) URL, only when the stack sets ALERT_HLS_URL (the signed "
        "clip link is the alert's clip); carries a session token, do not share"
    )
    expires_at: UtcTime
    start: UtcTime = Field(description="First detection minus the pre-roll")


class CameraLocation(ContractModel):
    """From the camera registry; absent until the camera is in the inventory."""

    site_id: str
    site_name: str | None = None
    zone: str | None = None
    display_name: str | None = None
    time_zone: str = "UTC"
    slack_route: str | None = Field(
        default=None, description="Key of the site's Slack webhook (inventory); since 1.1"
    )
    severity: Severity | None = Field(
        default=None,
        description="The camera's severity (cameras.yaml): chooses the alert's routes; since 1.2",
    )

    @property
    def slack_keys(self) -> list[str]:
        """Where the site's Slack alerts go, first match wins: the inventory's route for the
        site, then the site id (then the secret's "default")."""
        return [key for key in (self.slack_route, self.site_id) if key]


class AlertDetail(ContractModel):
    """detail of ``Unknown Face Detected``: one per incident, published once."""

    schema_version: Literal["1.0", "1.1", "1.2"] = ALERT_SCHEMA_VERSION
    incident_id: str
    camera_id: str
    stream_arn: str
    first_seen: UtcTime
    last_seen: UtcTime
    detections: int = Field(ge=1, description="Frames with an unknown face so far")
    best_face: BestFace
    closest_employee: ClosestEmployee | None = None
    band: Literal["unknown", "possible"] = Field(
        default="unknown",
        description="Match band of the incident (README, Match bands); since 1.2",
    )
    hint: str | None = Field(
        default=None,
        description='For a possible incident, e.g. "possible EMP-10442 (84%)"; since 1.2',
    )
    page: bool = Field(
        default=True,
        description="False for a low-priority hint: SMS pagers skip it; since 1.2",
    )
    clip: Clip | None = None
    clip_unavailable_reason: str | None = Field(
        default=None, description="Why clip is null (the alert went out without it)"
    )
    location: CameraLocation | None = None
    test: bool = Field(default=False, description="True for canary events; notifiers skip them")
