"""Camera health: the ``Camera Health Changed`` event (a versioned public contract).

Published on the facewatch bus by the watchdog whenever a camera's video or recognition state
changes; the fan-out rules route it (Slack/SMS), the table keeps its history. Carries no image,
no face data: only states, reasons and times.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "facewatch"
DETAIL_TYPE = "Camera Health Changed"
SCHEMA_VERSION = "1"


class VideoState(StrEnum):
    ONLINE = "ONLINE"  # a fragment arrived within CAMERA_OFFLINE_MINUTES
    OFFLINE = "OFFLINE"  # no fragment for CAMERA_OFFLINE_MINUTES while it should stream
    OFF_SCHEDULE = "OFF_SCHEDULE"  # outside its schedule: not expected to stream
    MISSING = "MISSING"  # the KVS stream does not exist


class RecognitionState(StrEnum):
    RUNNING = "RUNNING"
    STARTING = "STARTING"  # started for its hours (or by the stack); not RUNNING yet
    RESTARTING = "RESTARTING"  # FAILED/STOPPED when it should run; restarts with backoff
    RECREATING = "RECREATING"  # stuck in STARTING; deleted and created again
    IDLE = "IDLE"  # stopped because its schedule says so (the cost lever)
    MISSING = "MISSING"  # the processor does not exist (stack drift or failed recreate)
    NOT_APPLICABLE = "NOT_APPLICABLE"  # sampler cameras have no processor


class Overall(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"  # recovering: a restart or recreate is under way
    DOWN = "DOWN"  # no recognition: offline camera, missing stream or processor
    IDLE = "IDLE"  # outside its schedule


def overall(video: VideoState, recognition: RecognitionState) -> Overall:
    """One word for routing rules: DOWN beats DEGRADED beats IDLE beats HEALTHY."""
    if video in {VideoState.OFFLINE, VideoState.MISSING} or recognition is RecognitionState.MISSING:
        return Overall.DOWN
    if recognition in {RecognitionState.RESTARTING, RecognitionState.RECREATING}:
        return Overall.DEGRADED
    # STARTING: switched on by its schedule (or a deploy), not recognising yet; not a fault.
    if video is VideoState.OFF_SCHEDULE or recognition in {
        RecognitionState.IDLE,
        RecognitionState.STARTING,
    }:
        return Overall.IDLE
    return Overall.HEALTHY


class CameraHealth(BaseModel):
    """A camera's health at one moment (what the event and the stored item carry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    video: VideoState
    recognition: RecognitionState
    status: Overall
    reason: str = Field(max_length=500, description="Why, for people: a short sentence")
    processor_status: str | None = Field(
        default=None, description="Rekognition's status (STOPPED, FAILED, ...) when there is one"
    )
    last_fragment_at: str | None = Field(default=None, description="ISO time of the last fragment")


class CameraHealthChanged(BaseModel):
    """Detail of ``Camera Health Changed`` (source ``facewatch``), schema version 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal["1"] = "1"
    camera_id: str = Field(min_length=1, max_length=128)
    site_id: str | None = None
    site_name: str | None = None
    zone: str | None = None
    display_name: str | None = None
    time_zone: str | None = None
    changed_at: str = Field(description="ISO-8601 UTC with milliseconds and Z")
    previous: CameraHealth | None = Field(default=None, description="None the first time")
    current: CameraHealth

    def put_events_entry(self, bus_name: str) -> dict[str, str]:
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": self.model_dump_json(),
            "EventBusName": bus_name,
        }


def json_schema() -> dict[str, object]:
    """The published JSON Schema of the detail (docs and the compatibility test use it)."""
    return CameraHealthChanged.model_json_schema()
