"""DynamoDB adapter for camera state and incident items (single table, see docs/data-model.md).

- camera state: PK=CAMERA#<cam>, SK=STATE; ``state`` (JSON), ``version`` (optimistic lock)
- incident:     PK=INCIDENT#<id>, SK=INCIDENT; written when it alerts (alertState pending ->
  sent), extended in place while the visit goes on; GSIs by camera, site and status, and the
  sparse PendingAlerts index (GSI4) while its alert is not known to be published
- trail:        PK=INCIDENT#<id>, SK=EVENT#<ISO time>#<kind>; appended, never updated
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from facewatch.alerts.event import (
    BestFace,
    CameraLocation,
    ClosestEmployee,
    FaceBox,
    FaceQualityOut,
)
from facewatch.detections.incidents import CameraState, IncidentState
from facewatch.fleet.profiles import PrivacyProfile
from facewatch.timestamps import iso

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
DAY = 86400
PENDING_INDEX = "PendingAlerts"
PENDING_PARTITION = "ALERT#pending"


LEASE_SECONDS = 60.0  # a claim outlives a publish (PutEvents retries) by far
# DynamoDB's TransactWriteItems limits: 100 items and 4 MB a transaction.
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4_000_000


class CommitConflictError(Exception):
    """Another invocation changed the camera state first; reload and regroup."""


class IncidentExistsError(Exception):
    """An incident item to create exists already (its first frame was seen before)."""

    def __init__(self, incident_ids: Sequence[str]) -> None:
        super().__init__(", ".join(incident_ids))
        self.incident_ids = tuple(incident_ids)


class IncidentMissingError(Exception):
    """An incident item to update is gone (erased, or expired by TTL)."""

    def __init__(self, incident_ids: Sequence[str]) -> None:
        super().__init__(", ".join(incident_ids))
        self.incident_ids = tuple(incident_ids)


class CommitRejectedError(Exception):
    """DynamoDB refuses the write as such (validation): retrying can never apply it."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Who may publish (a token per invocation) and until when."""

    token: str
    until: float


@dataclass(frozen=True, slots=True)
class Changes:
    new_alerts: Sequence[IncidentState] = ()
    extended: Sequence[IncidentState] = ()
    absorbed: Sequence[tuple[IncidentState, str]] = ()  # (absorbed incident, survivor id)
    locations: dict[str, CameraLocation | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new_alerts or self.extended or self.absorbed)


Kind = Literal["alert", "merge"]


@dataclass(frozen=True, slots=True)
class Outstanding:
    """An incident item's publishing obligations: its alert and, once absorbed, its merge."""

    incident: IncidentState
    alert_state: str
    alert_claim: str | None = None
    alert_claim_until: float = 0.0
    status: str = "open"
    merged_into: str | None = None
    merge_state: str | None = None
    merge_claim: str | None = None
    merge_claim_until: float = 0.0

    def state_of(self, kind: Kind) -> tuple[str | None, str | None, float]:
        if kind == "alert":
            return self.alert_state, self.alert_claim, self.alert_claim_until
        return self.merge_state, self.merge_claim, self.merge_claim_until

    @property
    def settled(self) -> bool:
        return self.alert_state in ("sent", "cancelled") and self.merge_state in (
            None,
            "sent",
            "cancelled",
        )


class IncidentStore(Protocol):
    def load_state(self, camera_id: str) -> CameraState: ...

    def recall(self, camera_id: str, times: Sequence[float], window: float) -> list[IncidentState]:
        """Incidents (not merged) of the camera within ``window`` of any of ``times``."""
        ...

    def get_incident(self, incident_id: str) -> IncidentState | None:
        """The incident, or the one it was merged into; None if there is no item."""
        ...

    def commit(
        self, previous_version: int, state: CameraState, changes: Changes, claim: Claim
    ) -> None: ...

    def outstanding(self, incident_ids: Sequence[str]) -> list[Outstanding]: ...

    def claim(self, incident_id: str, kind: Kind, claim: Claim, now: float) -> Outstanding | None:
        """Take the right to publish (pending, or a claim whose lease ran out); None if not."""
        ...

    def release(self, incident_id: str, kind: Kind, token: str) -> None: ...

    def settle(
        self,
        incident: IncidentState,
        kind: Kind,
        token: str,
        outcome: Literal["sent", "cancelled"],
        *,
        at: float,
        clip_status: str = "",
    ) -> bool:
        """Record the outcome if the claim is still ours; False if it is not."""
        ...

    def pending_since(self, before: float) -> list[str]: ...


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

    # ---- reads -----------------------------------------------------------------------------
    def load_state(self, camera_id: str) -> CameraState:
        response = self._client.get_item(
            TableName=self._table, Key=state_key(camera_id), ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return CameraState(camera_id=camera_id)
        return CameraState.model_validate_json(item["state"]["S"])

    def recall(self, camera_id: str, times: Sequence[float], window: float) -> list[IncidentState]:
        """Newest first by firstSeen; a camera's incidents are disjoint, so the first one that
        ends before the earliest time ends the search."""
        if not times:
            return []
        earliest, latest = min(times) - window, max(times) + window
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByCamera",
            "KeyConditionExpression": "GSI1PK = :c AND GSI1SK <= :t",
            "ExpressionAttributeValues": to_item(
                {":c": f"CAMERA#{camera_id}", ":t": f"{iso(latest)}#~"}
            ),
            "ScanIndexForward": False,
            "Limit": 10,
        }
        found: list[IncidentState] = []
        while True:
            response = self._client.query(**kwargs)
            for raw in response.get("Items", []):
                if raw.get("status", {}).get("S") == "merged":
                    continue
                incident = IncidentState.model_validate_json(raw["incident"]["S"])
                if incident.last_seen < earliest:
                    return found
                found.append(incident)
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_incident(self, incident_id: str) -> IncidentState | None:
        for _ in range(8):  # a chain of merges is short
            item = self._client.get_item(
                TableName=self._table, Key=incident_key(incident_id), ConsistentRead=True
            ).get("Item")
            if item is None:
                return None
            if item.get("status", {}).get("S") != "merged":
                return IncidentState.model_validate_json(item["incident"]["S"])
            incident_id = item["mergedInto"]["S"]
        return None

    # ---- the camera's commit ---------------------------------------------------------------
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
        self, incident: IncidentState, location: CameraLocation | None, claim: Claim | None = None
    ) -> dict[str, Any]:
        sort = f"{iso(incident.first_seen)}#{incident.incident_id}"
        site = location.site_id if location else "unassigned"
        values: dict[str, Any] = {
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
        if claim is not None:  # created by the invocation that will publish it
            values |= {
                "alertState": "claimed",
                "alertClaim": claim.token,
                "alertClaimUntil": _number(claim.until),
            }
        return to_item(values)

    def _extend_update(self, incident: IncidentState) -> dict[str, Any]:
        """firstSeen, lastSeen and every index sort key move with the incident; the best face
        and closest employee in the alert's own shape (``bestFace``, ``closestEmployee``: what
        the Slack message re-renders from, alerts/slack/threads.py), and ``bestFaceAt``, the
        time of the best face's frame (a better snapshot is taken there); removed when that
        time is unknown (a face from an item written before it was kept), so it never names
        the frame of another face."""
        sort = f"{iso(incident.first_seen)}#{incident.incident_id}"
        sets = (
            "SET firstSeen = :f, lastSeen = :l, detections = :d, incident = :i, "
            "GSI1SK = :s, GSI2SK = :s, GSI3SK = :s, expiresAt = :e, bestFace = :b"
        )
        closest = public_closest(incident)
        if closest is not None:  # a closest employee is only ever replaced by a closer one
            sets += ", closestEmployee = :c"
        best_at = incident.best_face.frame_time
        sets += ", bestFaceAt = :ba" if best_at is not None else " REMOVE bestFaceAt"
        return {
            "TableName": self._table,
            "Key": incident_key(incident.incident_id),
            "UpdateExpression": sets,
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": to_item(
                {
                    ":f": iso(incident.first_seen),
                    ":l": iso(incident.last_seen),
                    ":d": incident.detections,
                    ":i": incident.model_dump_json(),
                    ":s": sort,
                    ":e": int(incident.first_seen) + self._incident_ttl(incident.camera_id),
                    ":b": public_best_face(incident).model_dump_json(by_alias=True),
                    ":c": closest.model_dump_json(by_alias=True) if closest else None,
                    ":ba": iso(best_at) if best_at is not None else None,
                }
            ),
        }

    def _absorb_update(
        self, incident: IncidentState, survivor: str, claim: Claim
    ) -> dict[str, Any]:
        """Out of the open-status index, into the pending index until its merge notice is
        settled (published if its alert was, cancelled with it if not)."""
        return {
            "TableName": self._table,
            "Key": incident_key(incident.incident_id),
            "UpdateExpression": (
                "SET #status = :m, mergedInto = :into, GSI3PK = :gsi3, mergeState = :claimed, "
                "mergeClaim = :t, mergeClaimUntil = :u, GSI4PK = :p, GSI4SK = :since"
            ),
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item(
                {
                    ":m": "merged",
                    ":into": survivor,
                    ":gsi3": "STATUS#merged",
                    ":claimed": "claimed",
                    ":t": claim.token,
                    ":u": _number(claim.until),
                    ":p": PENDING_PARTITION,
                    ":since": f"{iso(self._clock())}#{incident.incident_id}",
                }
            ),
        }

    def commit(
        self, previous_version: int, state: CameraState, changes: Changes, claim: Claim
    ) -> None:
        """The incident items first, in transactions within DynamoDB's limits, the camera state
        last: a retry after a partial commit regroups from the old state and rewrites the same
        items (creating them is conditional on "absent, or created under our claim")."""
        state_put = self._state_put(previous_version, state)
        if not changes:
            self._write([("state", state.camera_id, {"Put": state_put})], single=True)
            return
        tagged: list[tuple[str, str, dict[str, Any]]] = []
        for incident in changes.new_alerts:
            item = self.incident_item(incident, changes.locations.get(incident.camera_id), claim)
            tagged.append(
                (
                    "create",
                    incident.incident_id,
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(PK) OR alertClaim = :t",
                            "ExpressionAttributeValues": {":t": {"S": claim.token}},
                        }
                    },
                )
            )
            trail = self._trail(incident, "opened")
            tagged.append(
                ("trail", incident.incident_id, {"Put": {"TableName": self._table, "Item": trail}})
            )
        for incident in changes.extended:
            tagged.append(
                ("update", incident.incident_id, {"Update": self._extend_update(incident)})
            )
        for incident, survivor in changes.absorbed:
            tagged.append(
                (
                    "update",
                    incident.incident_id,
                    {"Update": self._absorb_update(incident, survivor, claim)},
                )
            )
            trail = self._trail(incident, "merged", self._clock(), mergedInto=survivor)
            tagged.append(
                ("trail", incident.incident_id, {"Put": {"TableName": self._table, "Item": trail}})
            )
        chunks = _transactions(tagged)
        last = chunks[-1]
        state_entry = ("state", state.camera_id, {"Put": state_put})
        if (
            len(last) < MAX_TRANSACTION_ITEMS
            and _size(last) + _size([state_entry]) <= MAX_TRANSACTION_BYTES
        ):
            last.append(state_entry)
        else:
            chunks.append([state_entry])
        for chunk in chunks:
            self._write(chunk)

    def _write(self, tagged: list[tuple[str, str, dict[str, Any]]], single: bool = False) -> None:
        try:
            if single:
                self._client.put_item(**tagged[0][2]["Put"])
            else:
                self._client.transact_write_items(TransactItems=[t for _, _, t in tagged])
        except ClientError as exc:
            raise _cause(exc, tagged) from exc

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

    # ---- publishing: claim, publish, settle ------------------------------------------------
    def outstanding(self, incident_ids: Sequence[str]) -> list[Outstanding]:
        found: list[Outstanding] = []
        for chunk in _chunks(list(dict.fromkeys(incident_ids)), 100):
            request = {
                self._table: {
                    "Keys": [incident_key(i) for i in chunk],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                found += [
                    _outstanding(i) for i in response.get("Responses", {}).get(self._table, [])
                ]
                request = response.get("UnprocessedKeys") or {}
        return found

    def claim(self, incident_id: str, kind: Kind, claim: Claim, now: float) -> Outstanding | None:
        state, token, until = _fields(kind)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=incident_key(incident_id),
                UpdateExpression=f"SET {state} = :claimed, {token} = :t, {until} = :u",
                ConditionExpression=(
                    f"attribute_exists(PK) AND ({state} = :pending OR "
                    f"({state} = :claimed AND {until} < :now))"
                ),
                ExpressionAttributeValues=to_item(
                    {
                        ":claimed": "claimed",
                        ":pending": "pending",
                        ":t": claim.token,
                        ":u": _number(claim.until),
                        ":now": _number(now),
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return _outstanding(response["Attributes"])

    def release(self, incident_id: str, kind: Kind, token: str) -> None:
        state, claim_token, until = _fields(kind)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=incident_key(incident_id),
                UpdateExpression=f"SET {state} = :pending REMOVE {claim_token}, {until}",
                ConditionExpression=f"{claim_token} = :t",
                ExpressionAttributeValues=to_item({":pending": "pending", ":t": token}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def settle(
        self,
        incident: IncidentState,
        kind: Kind,
        token: str,
        outcome: Literal["sent", "cancelled"],
        *,
        at: float,
        clip_status: str = "",
    ) -> bool:
        state, claim_token, until = _fields(kind)
        values: dict[str, Any] = {":s": outcome, ":t": token}
        sets = [f"{state} = :s"]
        if kind == "alert" and outcome == "sent":
            sets += ["alertedAt = :a", "clipStatus = :c"]
            values |= {":a": iso(at), ":c": clip_status}
        update = {
            "TableName": self._table,
            "Key": incident_key(incident.incident_id),
            "ConditionExpression": f"{claim_token} = :t",
        }
        removes = [claim_token, until]
        # The pending index keeps an item while either obligation is open.
        other = "mergeState" if kind == "alert" else "alertState"
        settled_other = f"(attribute_not_exists({other}) OR {other} IN (:done, :off))"
        items: list[dict[str, Any]] = []
        if outcome == "sent":
            kind_name = "alerted" if kind == "alert" else "merge-published"
            extra = {"clipStatus": clip_status} if kind == "alert" else {}
            trail = self._trail(incident, kind_name, at, **extra)
            items.append({"Put": {"TableName": self._table, "Item": trail}})
        for with_index in (True, False):
            expression = (
                "SET "
                + ", ".join(sets)
                + " REMOVE "
                + ", ".join(removes + (["GSI4PK", "GSI4SK"] if with_index else []))
            )
            condition = f"{claim_token} = :t" + (f" AND {settled_other}" if with_index else "")
            names_values = values | ({":done": "sent", ":off": "cancelled"} if with_index else {})
            request = update | {
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": to_item(names_values),
            }
            try:
                if items:
                    self._client.transact_write_items(TransactItems=[{"Update": request}, *items])
                else:
                    self._client.update_item(**request)
                return True
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
        return False

    def pending_since(self, before: float) -> list[str]:
        """Incidents with an alert or merge notice open since before ``before`` (the sweeper)."""
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "GSI4PK = :p AND GSI4SK < :t",
            "ExpressionAttributeValues": to_item({":p": PENDING_PARTITION, ":t": iso(before)}),
        }
        while True:
            response = self._client.query(**kwargs)
            found += [str(i["GSI4SK"]["S"]).rsplit("#", 1)[1] for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def public_best_face(incident: IncidentState) -> BestFace:
    """The incident's best face as the public events carry it."""
    face = incident.best_face
    return BestFace(
        bounding_box=FaceBox(width=face.width, height=face.height, left=face.left, top=face.top),
        confidence=face.confidence,
        quality=FaceQualityOut(brightness=face.brightness, sharpness=face.sharpness),
    )


def public_closest(incident: IncidentState) -> ClosestEmployee | None:
    closest = incident.closest
    if closest is None:
        return None
    return ClosestEmployee(employee_id=closest.employee_id, similarity=closest.similarity)


def _number(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _fields(kind: Kind) -> tuple[str, str, str]:
    if kind == "alert":
        return "alertState", "alertClaim", "alertClaimUntil"
    return "mergeState", "mergeClaim", "mergeClaimUntil"


def _outstanding(raw: dict[str, Any]) -> Outstanding:
    item = deserialize(raw)
    return Outstanding(
        incident=IncidentState.model_validate_json(item["incident"]),
        alert_state=str(item.get("alertState", "pending")),
        alert_claim=item.get("alertClaim"),
        alert_claim_until=float(item.get("alertClaimUntil", 0)),
        status=str(item.get("status", "open")),
        merged_into=item.get("mergedInto"),
        merge_state=item.get("mergeState"),
        merge_claim=item.get("mergeClaim"),
        merge_claim_until=float(item.get("mergeClaimUntil", 0)),
    )


def _condition_failed(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    reasons = exc.response.get("CancellationReasons", [])
    return code == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons
    )


def _cause(exc: ClientError, tagged: list[tuple[str, str, dict[str, Any]]]) -> Exception:
    """What a failed commit means, told apart by cause (each needs a different answer)."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":  # the state-only PutItem
        return CommitConflictError(tagged[0][1])
    if code == "ValidationException":
        # the message is left out: it may quote item values (face data)
        return CommitRejectedError("DynamoDB refused the camera's write (ValidationException)")
    transient: Exception = exc
    if code != "TransactionCanceledException":
        return transient  # throttling, a 5xx: transient, Lambda redelivers
    return _cancellation_cause(exc, tagged)


def _cancellation_cause(
    exc: ClientError, tagged: list[tuple[str, str, dict[str, Any]]]
) -> Exception:
    reasons = exc.response.get("CancellationReasons", [])
    failed = [
        (tagged[i][0], tagged[i][1], r.get("Code"))
        for i, r in enumerate(reasons)
        if i < len(tagged) and r.get("Code") not in (None, "None")
    ]
    checks = [(kind, key) for kind, key, reason in failed if reason == "ConditionalCheckFailed"]
    if any(kind == "state" for kind, _ in checks):
        return CommitConflictError(tagged[-1][1])
    exists = [key for kind, key in checks if kind == "create"]
    if exists:
        return IncidentExistsError(exists)
    missing = [key for kind, key in checks if kind == "update"]
    if missing:
        return IncidentMissingError(missing)
    if any(reason == "TransactionConflict" for _, _, reason in failed):
        return CommitConflictError("transaction conflict")
    if any(reason == "ValidationError" for _, _, reason in failed):
        return CommitRejectedError("DynamoDB refused an item of the write (validation)")
    transient: Exception = exc
    return transient


def _size(tagged: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
    return sum(len(json.dumps(t, default=str)) for _, _, t in tagged)


def _transactions(
    tagged: list[tuple[str, str, dict[str, Any]]],
) -> list[list[tuple[str, str, dict[str, Any]]]]:
    """Chunks within DynamoDB's transaction limits; an item stays with its trail entry."""
    chunks: list[list[tuple[str, str, dict[str, Any]]]] = [[]]
    size = 0
    for entry in tagged:
        entry_size = _size([entry])
        current = chunks[-1]
        keep_with_previous = entry[0] == "trail"
        full = len(current) >= MAX_TRANSACTION_ITEMS or size + entry_size > MAX_TRANSACTION_BYTES
        if current and (
            full or (not keep_with_previous and len(current) >= MAX_TRANSACTION_ITEMS - 1)
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += entry_size
    return chunks


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain Python (numbers as Decimal)."""
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}
