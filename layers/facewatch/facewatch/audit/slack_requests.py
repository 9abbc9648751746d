"""The Slack click's pydantic models: what the worker (slack_clicks) parses from the queue.

The front function (``slack_front``) authenticates, authorises and records the click without
pydantic, for its cold start; it accepts a subset of what these models accept, with the same
ids, and writes what ``RecordedClick`` reads (property tests in tests/security/). These models
are the contract: the payload Slack posts, the allow-list secret the stack writes, the record.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facewatch.audit.slack_front import MAX_BODY_BYTES, PayloadError, payload_json


# ---- the interactive payload ------------------------------------------------------------------
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Loose):
    id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    name: str | None = None
    team_id: str | None = None


class SlackTeam(_Loose):
    id: str
    domain: str | None = None


class SlackChannel(_Loose):
    id: str
    name: str | None = None


class SlackAction(_Loose):
    action_id: str
    value: str = Field(default="", max_length=128)


class SlackMessage(_Loose):
    text: str | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list)


class BlockActionsPayload(_Loose):
    type: Literal["block_actions"]
    user: SlackUser
    team: SlackTeam | None = None
    channel: SlackChannel | None = None
    response_url: str | None = Field(default=None, pattern=r"^https://hooks\.slack\.com/")
    actions: list[SlackAction] = Field(min_length=1, max_length=5)
    message: SlackMessage | None = None

    @property
    def team_id(self) -> str | None:
        return self.team.id if self.team else self.user.team_id

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else None


def parse_payload_json(raw: str) -> BlockActionsPayload:
    try:
        return BlockActionsPayload.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadError(f"not a block_actions payload ({exc.error_count()} problems)") from exc


def parse_payload(body: str) -> BlockActionsPayload:
    return parse_payload_json(payload_json(body))


# ---- who may click ----------------------------------------------------------------------------
def _ids(value: Any) -> Any:
    """The stack writes each list as one comma-separated string (from its parameters)."""
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


class SlackAllowList(BaseModel):
    """Teams, channels and (optional) user groups whose clicks count; stored as a secret."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")
    team_ids: frozenset[str] = Field(alias="teamIds")
    channel_ids: frozenset[str] = Field(alias="channelIds")
    user_group_ids: frozenset[str] = Field(default=frozenset(), alias="userGroupIds")

    _split = field_validator("team_ids", "channel_ids", "user_group_ids", mode="before")(_ids)


# ---- the durable record -----------------------------------------------------------------------
class RecordedClick(BaseModel):
    """What the clicks queue carries: the verified payload and when it arrived."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)
    version: Literal[1] = 1
    payload: str = Field(max_length=MAX_BODY_BYTES)  # the payload field's JSON, as signed
    received_at: float = Field(alias="receivedAt")

    def parsed(self) -> BlockActionsPayload:
        return parse_payload_json(self.payload)


def click_from_message(body: str) -> RecordedClick:
    return RecordedClick.model_validate(json.loads(body))
