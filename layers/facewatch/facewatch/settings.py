"""Function settings: one pydantic model per function, read from the environment at cold start.

A bad value stops the cold start with a message that names the variable, instead of failing
later on a record.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    """Settings are missing or invalid; the message names every offending variable."""


class EnvSettings(BaseModel):
    """Fields are declared with their environment variable name as alias."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values = {
            field.alias: env[field.alias]
            for field in cls.model_fields.values()
            if field.alias and field.alias in env and env[field.alias] != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise SettingsError(f"{cls.__name__}: invalid environment: {problems}") from exc


class ThresholdSettings(EnvSettings):
    face_match_threshold: float = Field(80.0, alias="FACE_MATCH_THRESHOLD", ge=0, le=100)
    # Matches from here up to the threshold are "possible" (detections/bands.py); the sampler
    # searches with it. A floor above the threshold is the threshold (no possible band).
    possible_match_floor: float = Field(70.0, alias="POSSIBLE_MATCH_FLOOR", ge=0, le=100)
    min_face_confidence: float = Field(90.0, alias="MIN_FACE_CONFIDENCE", ge=0, le=100)
    min_face_size: float = Field(0.0, alias="MIN_FACE_SIZE", ge=0, le=1)


class FaceEventsSettings(ThresholdSettings):
    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    rejected_queue_url: str = Field(alias="REJECTED_QUEUE_URL", min_length=1)
    incident_window_seconds: float = Field(60.0, alias="INCIDENT_WINDOW_SECONDS", gt=0, le=3600)
    min_detections: int = Field(2, alias="MIN_DETECTIONS", ge=1, le=100)
    # A possible incident (detections/bands.py): a Slack hint without SMS, a full alert, or none.
    possible_match_action: Literal["hint", "alert", "ignore"] = Field(
        "hint", alias="POSSIBLE_MATCH_ACTION"
    )
    clip_pre_roll_seconds: float = Field(5.0, alias="CLIP_PRE_ROLL_SECONDS", ge=0, le=300)
    # An HLS URL in the alert event spends one of the stream's few HLS sessions until it
    # expires: off by default (the signed clip link is the alert's clip), short-lived when on.
    alert_hls_url: bool = Field(False, alias="ALERT_HLS_URL")
    clip_url_ttl_seconds: int = Field(300, alias="CLIP_URL_TTL_SECONDS", ge=300, le=43200)
    retention_days: int = Field(400, alias="RETENTION_DAYS", ge=1, le=3650)
    # A frame whose producer clock is further than this from KVS's server time is placed at
    # the server time (and counted): one bad clock never trims a camera's state.
    max_clock_skew_seconds: float = Field(300.0, alias="MAX_CLOCK_SKEW_SECONDS", gt=0, le=86400)
    # At most one "Incident Updated" per incident in this many seconds: the same interval as
    # the Slack message's chat.update, so the live path asks for no update Slack would throttle.
    update_interval_seconds: float = Field(
        10.0, alias="SLACK_UPDATE_MIN_INTERVAL_SECONDS", ge=0, le=600
    )


class SlackActionsSettings(EnvSettings):
    """The Slack front door: what it needs to answer (signature, allow-list, replay, record)."""

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    signing_secret_arn: str = Field(alias="SLACK_SIGNING_SECRET_ARN", min_length=1)
    allow_list_secret_arn: str = Field(alias="SLACK_ALLOW_LIST_SECRET_ARN", min_length=1)
    # Only when user groups are allowed: a bot token with usergroups:read.
    bot_token_secret_arn: str | None = Field(None, alias="SLACK_BOT_TOKEN_SECRET_ARN")
    clicks_queue_url: str = Field(alias="SLACK_CLICKS_QUEUE_URL", min_length=1)
    # Secrets are cached this long per container (Powertools parameters), so a rotation
    # reaches every container within this time.
    secret_max_age_seconds: int = Field(300, alias="SECRET_MAX_AGE_SECONDS", ge=0, le=3600)


class SlackClicksSettings(EnvSettings):
    """The click worker: trail, status event, escalation SMS, message update."""

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    clip_link_key_secret_arn: str = Field(alias="CLIP_LINK_KEY_SECRET_ARN", min_length=1)
    clip_link_base_url: str = Field(alias="CLIP_LINK_BASE_URL", pattern=r"^https?://")
    escalation_topic_arn: str = Field(alias="ESCALATION_TOPIC_ARN", min_length=1)
    clip_link_ttl_days: int = Field(30, alias="CLIP_LINK_TTL_DAYS", ge=1, le=3650)
    secret_max_age_seconds: int = Field(300, alias="SECRET_MAX_AGE_SECONDS", ge=0, le=3600)


class ClipLinksSettings(EnvSettings):
    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    clip_link_key_secret_arn: str = Field(alias="CLIP_LINK_KEY_SECRET_ARN", min_length=1)
    clip_pre_roll_seconds: float = Field(5.0, alias="CLIP_PRE_ROLL_SECONDS", ge=0, le=300)
    clip_post_roll_seconds: float = Field(5.0, alias="CLIP_POST_ROLL_SECONDS", ge=0, le=300)
    # Each page view gets its own short HLS session (a URL carries a session token).
    clip_session_seconds: int = Field(900, alias="CLIP_SESSION_SECONDS", ge=300, le=43200)
    secret_max_age_seconds: int = Field(300, alias="SECRET_MAX_AGE_SECONDS", ge=0, le=3600)
    # The clip archive (clips/archive.py), served once KVS no longer has the video.
    archive_bucket_name: str | None = Field(None, alias="ARCHIVE_BUCKET_NAME")


class ClipArchiverSettings(EnvSettings):
    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    archive_bucket_name: str = Field(alias="ARCHIVE_BUCKET_NAME", min_length=3)
    archive_queue_url: str = Field(alias="ARCHIVE_QUEUE_URL", min_length=1)
    clip_pre_roll_seconds: float = Field(5.0, alias="CLIP_PRE_ROLL_SECONDS", ge=0, le=300)
    clip_post_roll_seconds: float = Field(5.0, alias="CLIP_POST_ROLL_SECONDS", ge=0, le=300)
    incident_window_seconds: float = Field(60.0, alias="INCIDENT_WINDOW_SECONDS", gt=0, le=3600)
