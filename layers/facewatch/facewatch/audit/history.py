"""The incident history: the audit access patterns and status changes (see docs/audit.md).

Every read is a Query on a key or an index, page by page (never a Scan):

- incidents of a site in a time range      BySite   GSI2PK=SITE#<site>     GSI2SK=<firstSeen>#<id>
- incidents of a camera in a time range    ByCamera GSI1PK=CAMERA#<cam>    GSI1SK=<firstSeen>#<id>
- incidents in a status (and time range)   ByStatus GSI3PK=STATUS#<s>      GSI3SK=<firstSeen>#<id>
- all incidents in a time range            ByStatus, one query per status, merged in time order
- one incident's full trail                table    PK=INCIDENT#<id>       SK begins_with EVENT#
- employee enrolments/removals in a range  ByCamera GSI1PK=EMPLOYEES       GSI1SK=<ts>#<id>

A status change is a new trail item (who, when, from what to what, from where). The incident
item's ``status``/``GSI3PK`` are a projection of the latest change, updated in the same
transaction as the appended trail item and conditional on the status the operator saw, so two
operators clicking at once get one applied change and one clean "already <status>" answer.
"""

from __future__ import annotations

import base64
import heapq
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import Binary
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from facewatch.audit.lifecycle import STATUSES, Actor, Status
from facewatch.detections.store import deserialize, incident_key, to_item
from facewatch.timestamps import iso, to_datetime

BY_CAMERA = ("ByCamera", "GSI1PK", "GSI1SK")
BY_SITE = ("BySite", "GSI2PK", "GSI2SK")
BY_STATUS = ("ByStatus", "GSI3PK", "GSI3SK")
EMPLOYEES_PARTITION = "EMPLOYEES"


class IncidentNotFoundError(LookupError):
    """No such incident (never existed, or expired by TTL)."""


class IncidentRecord(BaseModel):
    """An incident item as the auditors read it (camelCase in JSON, as the event contract)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)
    incident_id: str
    camera_id: str
    site_id: str
    stream_arn: str
    first_seen: datetime
    last_seen: datetime
    detections: int
    status: Status
    alert_state: str | None = None
    alerted_at: datetime | None = None
    status_changed_at: datetime | None = None
    status_changed_by: str | None = None
    first_response_at: datetime | None = None
    first_response_by: str | None = None
    expires_at: int | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> IncidentRecord:
        plain = deserialize(item)
        return cls(
            incident_id=plain["incidentId"],
            camera_id=plain["cameraId"],
            site_id=plain.get("siteId", "unassigned"),
            stream_arn=plain["streamArn"],
            first_seen=plain["firstSeen"],
            last_seen=plain["lastSeen"],
            detections=int(plain.get("detections", 0)),
            status=plain.get("status", "open"),
            alert_state=plain.get("alertState"),
            alerted_at=plain.get("alertedAt"),
            status_changed_at=plain.get("statusChangedAt"),
            status_changed_by=plain.get("statusChangedBy"),
            first_response_at=plain.get("firstResponseAt"),
            first_response_by=plain.get("firstResponseBy"),
            expires_at=int(plain["expiresAt"]) if "expiresAt" in plain else None,
        )


class TrailEntry(BaseModel):
    """One appended trail item: opened, alerted, status-<status>, ..."""

    model_config = ConfigDict(frozen=True)
    at: datetime
    kind: str
    actor: str
    details: dict[str, Any]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TrailEntry:
        plain = {k: _plain(v) for k, v in deserialize(item).items()}
        details = {k: v for k, v in plain.items() if k not in _TRAIL_FIELDS}
        return cls(at=plain["at"], kind=plain["kind"], actor=plain["actor"], details=details)


_TRAIL_FIELDS = frozenset({"PK", "SK", "at", "kind", "actor", "expiresAt"})


class EmployeeEvent(BaseModel):
    """An employee audit item (written by the enrolment tools)."""

    model_config = ConfigDict(frozen=True)
    employee_id: str
    at: datetime
    action: str
    actor: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> EmployeeEvent:
        plain = deserialize(item)
        ts, _, employee_id = str(plain["GSI1SK"]).partition("#")
        return cls(
            employee_id=plain.get("employeeId", employee_id),
            at=plain.get("at", ts),
            action=plain["action"],
            actor=plain.get("actor"),
        )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What happened to a requested change; ``incident`` is the state after it."""

    applied: bool
    previous: Status
    incident: IncidentRecord
    conflict: bool = False  # someone else changed the status between our read and our write


def _is_incident(item: dict[str, Any]) -> bool:
    # Other item types may share an index partition (e.g. a camera's items under CAMERA#<id>).
    # An absorbed incident (status "merged") is part of its survivor, which the audit lists.
    return bool(
        item.get("SK", {}).get("S") == "INCIDENT" and item.get("status", {}).get("S") != "merged"
    )


def _plain(value: Any) -> Any:
    """DynamoDB values as JSON-able Python (Decimal -> int/float, sets -> sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode()
    return value


def _range_condition(
    sort_key: str, since: float | None, until: float | None
) -> tuple[str, dict[str, Any]]:
    """Half-open [since, until) on ``<ISO time>#<id>`` sort keys.

    ``<ISO>#id`` sorts after the bare ``<ISO>``, so BETWEEN iso(since) AND iso(until) includes an
    item at exactly ``since`` and excludes one at exactly ``until``.
    """
    if since is not None and until is not None:
        return f" AND {sort_key} BETWEEN :since AND :until", {
            ":since": {"S": iso(since)},
            ":until": {"S": iso(until)},
        }
    if since is not None:
        return f" AND {sort_key} >= :since", {":since": {"S": iso(since)}}
    if until is not None:
        return f" AND {sort_key} < :until", {":until": {"S": iso(until)}}
    return "", {}


class IncidentHistory:
    """DynamoDB adapter for the audit access patterns and status changes."""

    def __init__(self, client: Any, table_name: str, *, page_size: int | None = None) -> None:
        self._client = client
        self._table = table_name
        self._page_size = page_size  # None: DynamoDB's 1 MB pages

    # ---- reads ---------------------------------------------------------------------------------
    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        request = {"TableName": self._table, **request}
        if self._page_size:
            request["Limit"] = self._page_size
        while True:
            response = self._client.query(**request)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _index_items(
        self,
        index: tuple[str, str, str],
        partition: str,
        since: float | None,
        until: float | None,
        *,
        newest_first: bool = False,
        filters: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        name, pk, sk = index
        condition, values = _range_condition(sk, since, until)
        request: dict[str, Any] = {
            "IndexName": name,
            "KeyConditionExpression": f"{pk} = :pk{condition}",
            "ExpressionAttributeValues": {":pk": {"S": partition}, **values},
            "ScanIndexForward": not newest_first,
        }
        if filters:
            # Secondary criteria (e.g. status when querying by site) filter one partition's
            # range; they never widen what is read.
            names = {f"#f{i}": attr for i, attr in enumerate(filters)}
            request["FilterExpression"] = " AND ".join(
                f"#f{i} = :f{i}" for i in range(len(filters))
            )
            request["ExpressionAttributeNames"] = names
            request["ExpressionAttributeValues"].update(
                {f":f{i}": {"S": value} for i, value in enumerate(filters.values())}
            )
        yield from self._query(**request)

    def incidents(
        self,
        *,
        site: str | None = None,
        camera: str | None = None,
        status: Status | None = None,
        since: float | None = None,
        until: float | None = None,
        newest_first: bool = False,
    ) -> Iterator[IncidentRecord]:
        """Incidents whose first detection is in [since, until), in time order.

        The most selective index serves the query (camera, then site, then status); the other
        criteria filter within it. With no criterion the four status partitions are merged.
        """
        filters: dict[str, str] = {}
        if camera is not None:
            index, partition = BY_CAMERA, f"CAMERA#{camera}"
            if site is not None:
                filters["siteId"] = site
            if status is not None:
                filters["status"] = status
        elif site is not None:
            index, partition = BY_SITE, f"SITE#{site}"
            if status is not None:
                filters["status"] = status
        elif status is not None:
            index, partition = BY_STATUS, f"STATUS#{status}"
        else:
            yield from self._all_statuses(since, until, newest_first)
            return
        for item in self._index_items(
            index, partition, since, until, newest_first=newest_first, filters=filters
        ):
            if _is_incident(item):
                yield IncidentRecord.from_item(item)

    def _all_statuses(
        self, since: float | None, until: float | None, newest_first: bool
    ) -> Iterator[IncidentRecord]:
        # Each incident is in exactly one status partition, so the union is every incident once.
        streams = [
            self._index_items(BY_STATUS, f"STATUS#{s}", since, until, newest_first=newest_first)
            for s in STATUSES
        ]
        merged = heapq.merge(
            *streams, key=lambda item: cast(str, item["GSI3SK"]["S"]), reverse=newest_first
        )
        for item in merged:
            if _is_incident(item):
                yield IncidentRecord.from_item(item)

    def get(self, incident_id: str) -> IncidentRecord | None:
        response = self._client.get_item(
            TableName=self._table, Key=incident_key(incident_id), ConsistentRead=True
        )
        item = response.get("Item")
        return IncidentRecord.from_item(item) if item and _is_incident(item) else None

    def trail(self, incident_id: str) -> Iterator[TrailEntry]:
        """The incident's trail, oldest first (opened, alerted, every status change)."""
        items = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :event)",
            ExpressionAttributeValues={
                ":pk": {"S": f"INCIDENT#{incident_id}"},
                ":event": {"S": "EVENT#"},
            },
            ConsistentRead=True,
        )
        for item in items:
            yield TrailEntry.from_item(item)

    def employee_events(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[EmployeeEvent]:
        for item in self._index_items(BY_CAMERA, EMPLOYEES_PARTITION, since, until):
            yield EmployeeEvent.from_item(item)

    # ---- access log --------------------------------------------------------------------------
    def record_access(
        self, incident_id: str, kind: str, actor: str, at: float, details: dict[str, str]
    ) -> None:
        """One access entry in the trail (clips.access.AccessLog), expiring with the incident.

        A random suffix keeps two views in one millisecond apart; an incident that is gone
        (erased, expired) gets no entry: there is nothing left to have accessed.
        """
        current = self.get(incident_id)
        if current is None:
            return
        self._client.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "PK": f"INCIDENT#{incident_id}",
                    "SK": f"EVENT#{iso(at)}#{kind}#{uuid.uuid4().hex[:8]}",
                    "kind": kind,
                    "at": iso(at),
                    "actor": actor,
                    "expiresAt": current.expires_at,
                    **details,
                }
            ),
            ConditionExpression="attribute_not_exists(SK)",
        )

    # ---- status changes ----------------------------------------------------------------------
    def change_status(
        self,
        incident_id: str,
        status: Status,
        actor: Actor,
        at: float,
        *,
        allowed_from: Collection[Status] = STATUSES,
    ) -> StatusChange:
        """Append a status change and move the projection, unless the status is already that.

        ``allowed_from``: the statuses the caller's user could see when deciding (a Slack
        button is only shown while the incident is open or escalated); from any other status
        the change is refused as a conflict. Raises IncidentNotFoundError for an unknown (or
        expired) incident.
        """
        current = self.get(incident_id)
        if current is None:
            raise IncidentNotFoundError(incident_id)
        if current.status == status:
            return StatusChange(applied=False, previous=current.status, incident=current)
        if current.status not in allowed_from:
            return StatusChange(
                applied=False, previous=current.status, incident=current, conflict=True
            )
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Update": self._projection_update(current, status, actor, at)},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._trail_item(current, status, actor, at),
                            "ConditionExpression": "attribute_not_exists(SK)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            latest = self.get(incident_id)
            if latest is None:
                raise IncidentNotFoundError(incident_id) from exc
            return StatusChange(
                applied=False, previous=current.status, incident=latest, conflict=True
            )
        updated = current.model_copy(
            update={
                "status": status,
                "status_changed_at": to_datetime(at),
                "status_changed_by": actor.name or actor.id,
                "first_response_at": current.first_response_at
                or (to_datetime(at) if status != "open" else None),
            }
        )
        return StatusChange(applied=True, previous=current.status, incident=updated)

    def _projection_update(
        self, current: IncidentRecord, status: Status, actor: Actor, at: float
    ) -> dict[str, Any]:
        sets = [
            "#status = :new",
            "GSI3PK = :gsi",
            "statusChangedAt = :at",
            "statusChangedBy = :by",
        ]
        if status != "open":
            # The first operator response, kept for time-to-acknowledge (the trail has it too).
            sets += [
                "firstResponseAt = if_not_exists(firstResponseAt, :at)",
                "firstResponseBy = if_not_exists(firstResponseBy, :by)",
            ]
        return {
            "TableName": self._table,
            "Key": incident_key(current.incident_id),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "#status = :prev",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item(
                {
                    ":new": status,
                    ":gsi": f"STATUS#{status}",
                    ":at": iso(at),
                    ":by": actor.name or actor.id,
                    ":prev": current.status,
                }
            ),
        }

    def _trail_item(
        self, current: IncidentRecord, status: Status, actor: Actor, at: float
    ) -> dict[str, Any]:
        return to_item(
            {
                "PK": f"INCIDENT#{current.incident_id}",
                "SK": f"EVENT#{iso(at)}#status-{status}",
                "kind": f"status-{status}",
                "at": iso(at),
                "actor": actor.id,
                "actorName": actor.name,
                "channel": actor.channel,
                "origin": actor.origin,
                "principal": actor.principal,
                "fromStatus": current.status,
                "toStatus": status,
                "expiresAt": current.expires_at,
            }
        )
