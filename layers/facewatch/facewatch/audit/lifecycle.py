"""The incident lifecycle: statuses, who may move an incident between them, and the public event.

``source = "facewatch"``, ``detail-type = "Incident Status Changed"``, ``detail`` =
``StatusChangedDetail`` (versioned like the alert event: minor versions only add optional
fields). The trail item in DynamoDB is the record; the event tells other systems.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import Field

from facewatch.alerts.event import ContractModel

Status = Literal["open", "acknowledged", "false_alarm", "escalated"]
STATUSES: tuple[Status, ...] = get_args(Status)
# Where a change came from: a Slack button, the audit CLI, or facewatch itself.
Channel = Literal["slack", "cli", "facewatch"]

STATUS_CHANGED_DETAIL_TYPE = "Incident Status Changed"
STATUS_CHANGED_SCHEMA_VERSION: Literal["1.1"] = "1.1"

# Slack button action_id -> the status it sets (the fan-out notifier renders these buttons).
SLACK_ACTIONS: dict[str, Status] = {
    "incident_acknowledge": "acknowledged",
    "incident_false_alarm": "false_alarm",
    "incident_escalate": "escalated",
}

# Statuses in which the alert message still shows its buttons (someone still has to act).
ACTIONABLE: tuple[Status, ...] = ("open", "escalated")

STATUS_LABELS: dict[Status, str] = {
    "open": "Open",
    "acknowledged": "Acknowledged",
    "false_alarm": "False alarm",
    "escalated": "Escalated",
}


class Actor(ContractModel):
    """Who changed the status and from where (Slack workspace/channel, or a CLI host/user)."""

    id: str = Field(min_length=1, max_length=128, description="Slack user id or CLI user")
    name: str | None = Field(default=None, max_length=128)
    channel: Channel
    origin: str | None = Field(
        default=None, max_length=256, description="e.g. slack:T0123/C0456 or cli:host"
    )
    principal: str | None = Field(
        default=None,
        max_length=2048,
        description="1.1: the caller's IAM identity (STS GetCallerIdentity ARN) for CLI changes; "
        "`id` is what the caller says (--by), this is who AWS says they are",
    )


class StatusChangedDetail(ContractModel):
    """detail of ``Incident Status Changed``: one per applied change (never for a no-op)."""

    schema_version: Literal["1.0", "1.1"] = STATUS_CHANGED_SCHEMA_VERSION
    incident_id: str
    camera_id: str
    site_id: str
    previous_status: Status
    status: Status
    changed_at: datetime
    actor: Actor
