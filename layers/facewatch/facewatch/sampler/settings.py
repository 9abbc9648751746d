"""Sampler settings: read once from the environment at cold start, validated, passed down."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# GetImages refuses a SamplingInterval below 200 ms: 5 frames per second is the ceiling.
MIN_SAMPLING_INTERVAL_MS = 200
# GetImages takes at most 300 s per request.
MAX_GETIMAGES_RANGE_S = 300.0

Seconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]

# Field name -> environment variable.
ENVIRONMENT = {
    "detections_stream_name": "DETECTIONS_STREAM_NAME",
    "table_name": "TABLE_NAME",
    "collection_id": "COLLECTION_ID",
    "face_match_threshold": "FACE_MATCH_THRESHOLD",
    "min_face_size": "MIN_FACE_SIZE",
    "fps": "SAMPLER_FPS",
    "max_analysis_fps": "SAMPLER_MAX_ANALYSIS_FPS",
    "run_seconds": "SAMPLER_RUN_SECONDS",
    "poll_seconds": "SAMPLER_POLL_SECONDS",
    "stop_margin_seconds": "SAMPLER_STOP_MARGIN_SECONDS",
    "media_wait_seconds": "SAMPLER_MEDIA_WAIT_SECONDS",
    "max_lag_seconds": "SAMPLER_MAX_LAG_SECONDS",
    "presence_seconds": "SAMPLER_PRESENCE_SECONDS",
    "min_face_pixels": "SAMPLER_MIN_FACE_PIXELS",
    "concurrency": "SAMPLER_CONCURRENCY",
}


class SamplerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    detections_stream_name: str = Field(min_length=1, max_length=128)
    table_name: str = Field(min_length=3, max_length=255)
    collection_id: str = Field(pattern=r"^[a-zA-Z0-9_.\-]{1,255}$")
    face_match_threshold: float = Field(default=80.0, ge=80.0, le=100.0)
    # Same meaning as face_events' MIN_FACE_SIZE: box height as a fraction of the frame.
    min_face_size: float = Field(default=0.0, ge=0.0, le=1.0)
    # Rekognition's own floor for reliable search (IndexFaces wants >= 40x40 px).
    min_face_pixels: int = Field(default=40, ge=1, le=2160)
    max_matches: int = Field(default=5, ge=1, le=4096)
    # Margin around a face box in its crop, as a fraction of the box: search must find the face.
    crop_margin: float = Field(default=0.35, ge=0.0, le=2.0)

    fps: float = Field(default=2.0, gt=0.0, le=5.0, description="Gate sampling rate")
    max_analysis_fps: float = Field(default=1.0, gt=0.0, le=5.0)
    gate_width: int = Field(default=128, ge=16, le=3840)
    gate_height: int = Field(default=72, ge=9, le=2160)
    gate_grid: tuple[int, int] = (64, 36)
    motion_pixel_delta: int = Field(default=24, ge=1, le=255)
    motion_area: float = Field(default=0.004, gt=0.0, le=1.0)
    presence_seconds: Seconds = 4.0
    jpeg_quality: int = Field(default=85, ge=1, le=100)

    run_seconds: Seconds = 59.0
    poll_seconds: Seconds = 1.0
    stop_margin_seconds: Seconds = 8.0
    media_wait_seconds: Seconds = 8.0
    max_lag_seconds: Seconds = 120.0
    max_window_seconds: Seconds = 20.0
    checkpoint_every_seconds: Seconds = 10.0
    lease_margin_seconds: Seconds = 30.0
    max_pending_records: int = Field(default=200, ge=1, le=1000)
    backoff_base_seconds: Seconds = 1.0
    backoff_max_seconds: Seconds = 16.0
    concurrency: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> SamplerSettings:
        if self.max_window_seconds > MAX_GETIMAGES_RANGE_S:
            raise ValueError("max_window_seconds must be <= 300 (GetImages range limit)")
        return self

    @property
    def interval_ms(self) -> int:
        """GetImages SamplingInterval derived from SAMPLER_FPS, never below 200 ms."""
        return max(MIN_SAMPLING_INTERVAL_MS, round(1000.0 / self.fps))

    @property
    def analysis_interval_ms(self) -> int:
        """Least time between two analysed frames (never shorter than the sampling interval)."""
        return max(self.interval_ms, round(1000.0 / self.max_analysis_fps))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SamplerSettings:
        values: dict[str, Any] = {
            field: environ[name] for field, name in ENVIRONMENT.items() if environ.get(name)
        }
        return cls.model_validate(values)
