"""Sampler settings: read once from the environment at cold start (facewatch.settings
convention: fields aliased to their variable), validated, passed down. Fields without an alias
are tuning knobs with defaults, not deployment settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from facewatch.settings import ThresholdSettings

# GetImages refuses a SamplingInterval below 200 ms: 5 frames per second is the ceiling.
MIN_SAMPLING_INTERVAL_MS = 200
# GetImages takes at most 300 s per request.
MAX_GETIMAGES_RANGE_S = 300.0

Seconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class SamplerSettings(ThresholdSettings):
    """FACE_MATCH_THRESHOLD, MIN_FACE_CONFIDENCE and MIN_FACE_SIZE are face_events' own
    (ThresholdSettings): faces face_events would ignore are not searched."""

    detections_stream_name: str = Field(alias="DETECTIONS_STREAM_NAME", min_length=1)
    table_name: str = Field(alias="TABLE_NAME", min_length=3, max_length=255)
    collection_id: str = Field(alias="COLLECTION_ID", pattern=r"^[a-zA-Z0-9_.\-]{1,255}$")
    # Rekognition's own floor for reliable search (IndexFaces wants >= 40x40 px).
    min_face_pixels: int = Field(40, alias="SAMPLER_MIN_FACE_PIXELS", ge=1, le=2160)
    max_matches: int = Field(5, ge=1, le=4096)
    # Margin around a face box in its crop, as a fraction of the box: search must find the face.
    crop_margin: float = Field(0.35, ge=0.0, le=2.0)

    fps: float = Field(2.0, alias="SAMPLER_FPS", gt=0.0, le=5.0, description="Gate sampling rate")
    max_analysis_fps: float = Field(2.0, alias="SAMPLER_MAX_ANALYSIS_FPS", gt=0.0, le=5.0)
    gate_width: int = Field(128, ge=16, le=3840)
    gate_height: int = Field(72, ge=9, le=2160)
    gate_grid: tuple[int, int] = (64, 36)
    motion_pixel_delta: int = Field(24, ge=1, le=255)
    motion_area: float = Field(0.004, gt=0.0, le=1.0)
    jpeg_quality: int = Field(85, ge=1, le=100)

    # False: every face of every analysed frame is searched (no tracks: the cost before tracks,
    # kept to check that tracks change no incident).
    tracking: bool = Field(True, alias="SAMPLER_TRACKING")
    # False: every look is DetectFaces on one whole frame (no mosaics of several frames).
    mosaics: bool = Field(True, alias="SAMPLER_MOSAICS")
    # The producer clock (see sampler.clock): measured this often, reported beyond the bound.
    max_clock_skew_seconds: Seconds = Field(2.0, alias="SAMPLER_MAX_CLOCK_SKEW_SECONDS")
    clock_check_seconds: Seconds = 60.0
    event_bus_name: str | None = Field(None, alias="EVENT_BUS_NAME", min_length=1)

    run_seconds: Seconds = Field(59.0, alias="SAMPLER_RUN_SECONDS")
    poll_seconds: Seconds = Field(0.5, alias="SAMPLER_POLL_SECONDS")
    stop_margin_seconds: Seconds = Field(8.0, alias="SAMPLER_STOP_MARGIN_SECONDS")
    media_wait_seconds: Seconds = Field(8.0, alias="SAMPLER_MEDIA_WAIT_SECONDS")
    max_lag_seconds: Seconds = Field(120.0, alias="SAMPLER_MAX_LAG_SECONDS")
    max_window_seconds: Seconds = 20.0
    checkpoint_every_seconds: Seconds = 10.0
    lease_margin_seconds: Seconds = 30.0
    max_pending_records: int = Field(200, ge=1, le=1000)
    backoff_base_seconds: Seconds = 1.0
    backoff_max_seconds: Seconds = 16.0
    concurrency: int = Field(8, alias="SAMPLER_CONCURRENCY", ge=1, le=64)

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
