"""Settings of the fan-out notifiers (Slack and SMS), read from the environment at cold start."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from facewatch.settings import EnvSettings

TWO_WEEKS = 14 * 24 * 3600  # the longest a message can wait in a DLQ before a replay


class NotifierSettings(EnvSettings):
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    # Longer than a DLQ keeps a message, so a replay two weeks later still cannot double-send.
    idempotency_ttl_seconds: int = Field(
        TWO_WEEKS + 24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS", ge=3600, le=365 * 24 * 3600
    )
    clip_link_base_url: str | None = Field(
        None, alias="CLIP_LINK_BASE_URL", pattern=r"^https?://[^\s?#]+$"
    )
    clip_link_key_secret_arn: str | None = Field(None, alias="CLIP_LINK_KEY_SECRET_ARN")
    clip_link_ttl_days: int = Field(30, alias="CLIP_LINK_TTL_DAYS", ge=1, le=400)
    secret_max_age_seconds: int = Field(300, alias="SECRET_MAX_AGE_SECONDS", ge=0, le=3600)
    # A message is only started with this much invocation time left; the rest go back to SQS.
    deadline_reserve_seconds: float = Field(10.0, alias="DEADLINE_RESERVE_SECONDS", ge=0, le=300)
    # The incidents table: an alert is sent only for an incident facewatch alerted (fanout).
    table_name: str | None = Field(None, alias="TABLE_NAME")

    @model_validator(mode="after")
    def _link_key_with_base(self) -> Self:
        if self.clip_link_base_url and not self.clip_link_key_secret_arn:
            raise ValueError("CLIP_LINK_BASE_URL needs CLIP_LINK_KEY_SECRET_ARN (the signing key)")
        return self


class SlackNotifierSettings(NotifierSettings):
    slack_webhook_secret_arn: str = Field(alias="SLACK_WEBHOOK_SECRET_ARN", min_length=1)
    slack_timeout_seconds: int = Field(5, alias="SLACK_TIMEOUT_SECONDS", ge=1, le=30)
    # Slack takes about one message a second per webhook: pace to it instead of collecting 429s.
    slack_min_interval_seconds: float = Field(1.0, alias="SLACK_MIN_INTERVAL_SECONDS", ge=0, le=10)
    slack_error_retries: int = Field(2, alias="SLACK_ERROR_RETRIES", ge=0, le=10)  # 5xx, network
    slack_rate_limit_retries: int = Field(5, alias="SLACK_RATE_LIMIT_RETRIES", ge=0, le=20)
    # A longer Retry-After is not waited out in the function: the message goes back to the queue.
    slack_max_retry_after_seconds: float = Field(
        20.0, alias="SLACK_MAX_RETRY_AFTER_SECONDS", ge=0, le=300
    )
    snapshot_bucket_name: str | None = Field(None, alias="SNAPSHOT_BUCKET_NAME")
    snapshot_timeout_seconds: float = Field(2.0, alias="SNAPSHOT_TIMEOUT_SECONDS", gt=0, le=10)
    snapshot_url_ttl_seconds: int = Field(
        24 * 3600, alias="SNAPSHOT_URL_TTL_SECONDS", ge=60, le=7 * 24 * 3600
    )


class SmsNotifierSettings(NotifierSettings):
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", pattern=r"^arn:[\w-]+:sns:")
    sms_type: Literal["Transactional", "Promotional"] = Field("Transactional", alias="SMS_TYPE")
