"""CloudWatch alarm state changes to the ops Slack route: an alarm that reaches someone.

EventBridge puts ``CloudWatch Alarm State Change`` (source ``aws.cloudwatch``) on the account's
default bus; the stack's rule sends its own alarms' changes to the Slack queue, and the notifier
posts them to the ``ops`` webhook. Only the fields facewatch shows are modelled.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.blocks.basic_components import PlainTextObject

from facewatch.alerts.slack.messages import SlackMessage, escape

ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
_ICONS = {"ALARM": "🚨", "OK": "✅", "INSUFFICIENT_DATA": "❔"}
HEADER_LIMIT = 150  # Slack's header block text limit


class AlarmState(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    value: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str = ""
    timestamp: datetime


class AlarmConfiguration(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    description: str | None = None


class AlarmStateChange(BaseModel):
    """The detail of ``CloudWatch Alarm State Change``."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)

    @property
    def once_key(self) -> str:
        return f"alarm#{self.alarm_name}#{self.state.value}#{self.state.timestamp.isoformat()}"


def alarm_message(change: AlarmStateChange) -> SlackMessage:
    state = change.state.value
    was = change.previous_state.value if change.previous_state else None
    header = f"{_ICONS.get(state, '🔔')} {state}: {change.alarm_name}"
    if len(header) > HEADER_LIMIT:
        header = header[: HEADER_LIMIT - 1] + "…"
    what = change.configuration.description or change.alarm_name
    blocks = [
        HeaderBlock(text=PlainTextObject(text=header, emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=escape(what))),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*State*\n{escape(f'{was} → {state}' if was else state)}"),
                MarkdownTextObject(text=f"*At*\n{change.state.timestamp:%Y-%m-%d %H:%M:%S} UTC"),
            ]
        ),
    ]
    if change.state.reason:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=escape(change.state.reason[:2900])))
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="facewatch alarm")]))
    return SlackMessage(
        text=escape(f"{state}: {change.alarm_name}: {what}"),
        blocks=[block.to_dict() for block in blocks],
    )
