"""DynamoDB adapter for camera state and incident items (single table, see README "Data model").

- camera state: PK=CAMERA#<cam>, SK=STATE; ``state`` (JSON), ``version`` (optimistic lock)
- incident:     PK=INCIDENT#<id>, SK=INCIDENT; written when it alerts (alertState pending ->
  sent), extended in place while the visit goes on; GSIs by camera, site and status, and the
  sparse PendingAlerts index (GSI4) while its alert is not known to be published
- trail:        PK=INCIDENT#<id>, SK=EVENT#<ISO time>#<kind>; appended, never updated
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from facewatch.alerts.event import CameraLocation
from facewatch.detections.incidents import CameraState, IncidentState
from facewatch.fleet.profiles import PrivacyProfile
from facewatch.timestamps import iso

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
DAY = 86400
PENDING_INDEX = "PendingAlerts"
PENDING_PARTITION = "ALERT#pending"


class CommitConflictError(Exception):
    """Another invocation changed the camera state first; reload and regroup."""


@dataclass(frozen=True, slots=True)
class PendingAlerts:
    sent: set[str]
    pending: list[IncidentState]


class IncidentStore(Protocol):
    def load_state(self, camera_id: str) -> CameraState: ...

    def commit(
        self,
        previous_version: int,
        state: CameraState,
        new_alerts: Sequence[IncidentState],
        extended: Sequence[IncidentState],
        locations: dict[str, CameraLocation | None],
    ) -> None: ...

    def pending_alerts(self, incident_ids: Sequence[str]) -> PendingAlerts: ...

    def mark_sent(self, incident: IncidentState, at: float, clip_status: str) -> None: ...

    def pending_since(self, before: float) -> list[IncidentState]: ...


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a low-level DynamoDB item (None values left out)."""
    return {k: _SERIALIZER.serialize(v) for k, v in values.items() if v is not None}


def state_key(camera_id: str) -> dict[str, Any]:
    return to_item({"PK": f"CAMERA#{camera_id}", "SK": "STATE"})


def incident_key(incident_id: str) -> dict[str, Any]:
    return to_item({"PK": f"INCIDENT#{incident_id}", "SK": "INCIDENT"})


class DynamoIncidentStore:
    def __init__(
        self,
        client: Any,
        table_name: str,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        privacy: Callable[[str], PrivacyProfile | None] | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_days * DAY
        self._clock = clock
        self._privacy = privacy  # camera id -> its site's profile (the registry)

    def _profile(self, camera_id: str) -> PrivacyProfile | None:
        return self._privacy(camera_id) if self._privacy is not None else None

    def _incident_ttl(self, camera_id: str) -> int:
        """Seconds an incident (and its trail) of this camera is kept: its site's profile, never
        longer than the stack's RETENTION_DAYS (a ceiling; an unregistered camera gets it)."""
        profile = self._profile(camera_id)
        days = profile.retention.incidents * DAY if profile else self._retention
        return min(days, self._retention)

    def _state_ttl(self, camera_id: str) -> int:
        profile = self._profile(camera_id)
        days = profile.retention.camera_state * DAY if profile else self._retention
        return min(days, self._retention)

    def load_state(self, camera_id: str) -> CameraState:
        response = self._client.get_item(
            TableName=self._table, Key=state_key(camera_id), ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return CameraState(camera_id=camera_id)
        return CameraState.model_validate_json(item["state"]["S"])

    def _state_put(self, previous_version: int, state: CameraState) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": to_item(
                {
                    "PK": f"CAMERA#{state.camera_id}",
                    "SK": "STATE",
                    "version": state.version,
                    "state": state.model_dump_json(),
                    # unknown-face boxes of a camera that stops reporting expire with incidents
                    "expiresAt": int(max((i.last_seen for i in state.incidents), default=0))
                    + self._state_ttl(state.camera_id),
                }
            ),
        }
        if previous_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(previous_version)}}
        return put

    def incident_item(
        self, incident: IncidentState, location: CameraLocation | None
    ) -> dict[str, Any]:
        sort = f"{iso(incident.first_seen)}#{incident.incident_id}"
        site = location.site_id if location else "unassigned"
        return to_item(
            {
                "PK": f"INCIDENT#{incident.incident_id}",
                "SK": "INCIDENT",
                "GSI1PK": f"CAMERA#{incident.camera_id}",
                "GSI1SK": sort,
                "GSI2PK": f"SITE#{site}",
                "GSI2SK": sort,
                "GSI3PK": "STATUS#open",
                "GSI3SK": sort,
                "incidentId": incident.incident_id,
                "cameraId": incident.camera_id,
                "siteId": site,
                "streamArn": incident.stream_arn,
                "firstSeen": iso(incident.first_seen),
                "lastSeen": iso(incident.last_seen),
                "detections": incident.detections,
                "status": "open",
                "alertState": "pending",
                # sparse index: present only until the alert is known to be published
                "GSI4PK": PENDING_PARTITION,
                "GSI4SK": f"{iso(self._clock())}#{incident.incident_id}",
                "incident": incident.model_dump_json(),
                "expiresAt": int(incident.first_seen) + self._incident_ttl(incident.camera_id),
            }
        )

    def _extend_update(self, incident: IncidentState) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": incident_key(incident.incident_id),
            "UpdateExpression": "SET lastSeen = :l, detections = :d, incident = :i",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": to_item(
                {
                    ":l": iso(incident.last_seen),
                    ":d": incident.detections,
                    ":i": incident.model_dump_json(),
                }
            ),
        }

    def commit(
        self,
        previous_version: int,
        state: CameraState,
        new_alerts: Sequence[IncidentState],
        extended: Sequence[IncidentState],
        locations: dict[str, CameraLocation | None],
    ) -> None:
        state_put = self._state_put(previous_version, state)
        try:
            if not new_alerts and not extended:
                self._client.put_item(**state_put)
                return
            items: list[dict[str, Any]] = [{"Put": state_put}]
            for incident in new_alerts:
                item = self.incident_item(incident, locations.get(incident.camera_id))
                items.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                )
                items.append(
                    {"Put": {"TableName": self._table, "Item": self._trail(incident, "opened")}}
                )
            items += [{"Update": self._extend_update(i)} for i in extended]
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                reasons = exc.response.get("CancellationReasons", [])
                codes = {r.get("Code") for r in reasons}
                if code == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in codes:
                    raise CommitConflictError(state.camera_id) from exc
            raise

    def _trail(
        self, incident: IncidentState, kind: str, at: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        when = incident.first_seen if at is None else at
        return to_item(
            {
                "PK": f"INCIDENT#{incident.incident_id}",
                "SK": f"EVENT#{iso(when)}#{kind}",
                "kind": kind,
                "at": iso(when),
                "actor": "facewatch",
                "expiresAt": int(incident.first_seen) + self._incident_ttl(incident.camera_id),
                **extra,
            }
        )

    def pending_alerts(self, incident_ids: Sequence[str]) -> PendingAlerts:
        sent: set[str] = set()
        pending: list[IncidentState] = []
        for chunk in _chunks(list(dict.fromkeys(incident_ids)), 100):
            request = {
                self._table: {
                    "Keys": [incident_key(i) for i in chunk],
                    "ProjectionExpression": "incidentId, alertState, incident",
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    if item["alertState"]["S"] == "sent":
                        sent.add(item["incidentId"]["S"])
                    else:
                        pending.append(IncidentState.model_validate_json(item["incident"]["S"]))
                request = response.get("UnprocessedKeys") or {}
        return PendingAlerts(sent=sent, pending=pending)

    def mark_sent(self, incident: IncidentState, at: float, clip_status: str) -> None:
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": incident_key(incident.incident_id),
                        "UpdateExpression": (
                            "SET alertState = :s, alertedAt = :a, clipStatus = :c "
                            "REMOVE GSI4PK, GSI4SK"
                        ),
                        "ExpressionAttributeValues": to_item(
                            {":s": "sent", ":a": iso(at), ":c": clip_status}
                        ),
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._trail(incident, "alerted", at, clipStatus=clip_status),
                    }
                },
            ]
        )

    def pending_since(self, before: float) -> list[IncidentState]:
        """Incidents whose alert has been pending since before ``before`` (the sweeper's work)."""
        found: list[IncidentState] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "GSI4PK = :p AND GSI4SK < :t",
            "ExpressionAttributeValues": to_item({":p": PENDING_PARTITION, ":t": iso(before)}),
        }
        while True:
            response = self._client.query(**kwargs)
            found += [
                IncidentState.model_validate_json(i["incident"]["S"]) for i in response["Items"]
            ]
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain Python (numbers as Decimal)."""
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}
