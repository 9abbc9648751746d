"""Erasure: an incident, a camera's time range, an employee; each idempotent, each certified.

What an incident leaves where (and what is deleted):
  incidents table   the incident item, its trail (down to an ``ERASED`` marker with the date),
                    its place in the camera's grouping state
  S3                snapshots/<id>/<frame>.jpg (the alert's and every better one),
                    snapshots/<date>/<id>.jpg (before 2026-12), clips/<id>/NNN.mp4, every version
  SQS               messages naming it (alert queues, DLQs) and rejected records of its camera
                    and time (a received message that does not match is made visible again)
An employee: faces in the collection, enrollment audit items, consent records (down to a marker
keyed by a digest), and the "closest employee" hint in incidents (the one Scan facewatch makes:
no index leads from an employee to the incidents that name them; erasure is rare).
What stays (PITR backups, KVS fragments, the EventBridge archive, posted Slack/SMS messages) is
listed on the certificate with the time it expires.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from facewatch.alerts.snapshots import snapshot_prefix
from facewatch.audit.history import IncidentHistory, IncidentRecord
from facewatch.clips.archive import ARCHIVE_PREFIX
from facewatch.detections.incidents import CameraState, IncidentState
from facewatch.detections.store import deserialize, state_key, to_item
from facewatch.fleet.employees import EmployeeCollection
from facewatch.privacy.certificates import Deletion, ErasureCertificate, ErasureRequest, Residual
from facewatch.privacy.consent import ConsentLedger, ConsentStatus, subject_digest
from facewatch.timestamps import iso

PITR_DAYS = 35  # DynamoDB point-in-time recovery keeps 35 days of changes
DAY = 86400
OBJECT_PREFIXES = ("snapshots/",)  # + <YYYY/MM/DD>/<incident id>.jpg: the layout before 2026-12
REJECT_SLACK_SECONDS = 300  # a rejected record "of" an incident arrived within this of it
RECEIVE_ROUNDS = 1000  # at most 10 000 messages a queue per sweep


@dataclass(frozen=True)
class PrivacyStores:
    """Every place facewatch keeps data (the local stack and a deployed one alike)."""

    dynamodb: Any  # low-level client
    incidents_table: str
    consent: ConsentLedger
    s3: Any
    buckets: tuple[str, ...]  # snapshots, archived clips
    sqs: Any
    queues: tuple[str, ...]  # queue URLs: rejects, alert queues, their DLQs
    region: str
    collection: EmployeeCollection | None = None
    kvs: Any | None = None  # the KVS control plane: a stream's retention
    idempotency_table: str | None = None  # the notifiers' "sent once" records (Powertools)
    event_archive_days: int | None = 90  # template.yaml EventArchive RetentionDays

    @property
    def history(self) -> IncidentHistory:
        return IncidentHistory(self.dynamodb, self.incidents_table)


class Eraser:
    def __init__(
        self, stores: PrivacyStores, actor: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._s = stores
        self._actor = actor
        self._clock = clock

    # ---- requests ------------------------------------------------------------------------------
    def erase_incident(self, incident_id: str) -> ErasureCertificate:
        deleted, residuals = self._incident(incident_id)
        return self._certify(ErasureRequest.INCIDENT, incident_id, deleted, residuals)

    def erase_place_and_time(
        self, camera_id: str, since: float, until: float
    ) -> ErasureCertificate:
        """Everything of one camera in [since, until): a visitor's request by place and time."""
        deleted: list[Deletion] = []
        residuals: list[Residual] = []
        for record in list(self._s.history.incidents(camera=camera_id, since=since, until=until)):
            more, left = self._incident(record.incident_id)
            deleted += more
            residuals += left
        deleted += self._sweep_queues(
            lambda body: _reject_of(body, camera_id, since, until), "rejected records"
        )
        residuals.append(self._video_residual(camera_id, since, until))
        return self._certify(
            ErasureRequest.PLACE_AND_TIME,
            f"{camera_id} [{iso(since)}, {iso(until)})",
            _merge(deleted),
            _dedupe(residuals),
        )

    def erase_employee(self, employee_id: str) -> ErasureCertificate:
        deleted: list[Deletion] = []
        if self._s.collection is not None:
            faces = self._s.collection.remove(employee_id)
            deleted.append(
                Deletion(
                    store=f"rekognition:{self._s.collection.collection_id}",
                    what="faces",
                    count=faces,
                )
            )
        deleted.append(
            Deletion(
                store=f"dynamodb:{self._s.incidents_table}",
                what="enrollment audit items",
                count=self._delete_partition(
                    self._s.incidents_table, f"EMPLOYEE#{employee_id}", keep=()
                ),
            )
        )
        ledger = self._s.consent.table
        deleted.append(
            Deletion(
                store=f"dynamodb:{ledger.name}",
                what="consent records",
                count=self._delete_partition(ledger.name, f"EMPLOYEE#{employee_id}", keep=()),
            )
        )
        deleted.append(
            Deletion(
                store=f"dynamodb:{self._s.incidents_table}",
                what="closest-employee hints",
                count=self._scrub_hints(employee_id),
            )
        )
        digest = subject_digest(employee_id)
        ledger.put_item(
            Item={"PK": f"ERASED#{digest}", "SK": "ERASED", "erasedAt": iso(self._clock())}
        )
        residuals = [
            self._pitr(self._s.incidents_table),
            self._pitr(ledger.name),
        ]
        if self._s.event_archive_days:
            residuals.append(
                Residual(
                    store="events:archive",
                    holds="alert events naming the employee as closest match",
                    until=iso(self._clock() + self._s.event_archive_days * DAY),
                )
            )
        return self._certify(ErasureRequest.EMPLOYEE, digest, deleted, residuals)

    def withdraw_consent(self, employee_id: str) -> ErasureCertificate:
        """Consent withdrawn: the record says so, the faces go now (the collection only).

        Idempotent, as every erasure: run again (a region was down), it adds no second withdrawal
        record and finds no faces; the certificate says so."""
        current = self._s.consent.current(employee_id)
        if current is None or current.status is not ConsentStatus.WITHDRAWN:
            self._s.consent.withdraw(employee_id, self._actor)
        deleted = []
        if self._s.collection is not None:
            deleted.append(
                Deletion(
                    store=f"rekognition:{self._s.collection.collection_id}",
                    what="faces",
                    count=self._s.collection.remove(employee_id),
                )
            )
        return self._certify(
            ErasureRequest.CONSENT_WITHDRAWN, subject_digest(employee_id), deleted, []
        )

    # ---- one incident --------------------------------------------------------------------------
    def _incident(self, incident_id: str) -> tuple[list[Deletion], list[Residual]]:
        table = self._s.incidents_table
        record = self._s.history.get(incident_id)
        marker = self._marker(incident_id)
        day = (
            f"{record.first_seen:%Y/%m/%d}"
            if record
            else (marker.get("objectDate") if marker else None)
        )
        items = self._delete_partition(table, f"INCIDENT#{incident_id}", keep=("ERASED",))
        if record is not None:
            self._scrub_state(record.camera_id, {incident_id})
        deleted = [
            Deletion(store=f"dynamodb:{table}", what="incident and trail items", count=items)
        ]
        for bucket in self._s.buckets:
            deleted.append(
                Deletion(
                    store=f"s3:{bucket}",
                    what="snapshot and clip object versions",
                    count=self._delete_objects(bucket, day, incident_id),
                )
            )
        if self._s.idempotency_table:
            deleted.append(
                Deletion(
                    store=f"dynamodb:{self._s.idempotency_table}",
                    what="sent-once records",
                    count=self._delete_idempotency(incident_id),
                )
            )
        deleted += self._sweep_queues(
            lambda body: (
                incident_id in body
                or (
                    record is not None
                    and _reject_of(
                        body,
                        record.camera_id,
                        record.first_seen.timestamp(),
                        record.last_seen.timestamp(),
                    )
                )
            ),
            "queued messages",
        )
        if marker is None and (record is not None or items):
            self._s.dynamodb.put_item(
                TableName=table,
                Item=to_item(
                    {
                        "PK": f"INCIDENT#{incident_id}",
                        "SK": "ERASED",
                        "erasedAt": iso(self._clock()),
                        "objectDate": day,
                    }
                ),
            )
        return deleted, self._incident_residuals(record, bool(items))

    def _incident_residuals(self, record: IncidentRecord | None, any_items: bool) -> list[Residual]:
        residuals = [self._pitr(self._s.incidents_table)] if any_items else []
        if record is None:
            return residuals
        first, last = record.first_seen.timestamp(), record.last_seen.timestamp()
        residuals.append(self._video_residual(record.camera_id, first, last))
        if record.alert_state == "sent":
            if self._s.event_archive_days:
                residuals.append(
                    Residual(
                        store="events:archive",
                        holds="the alert event (face box, no image)",
                        until=iso(first + self._s.event_archive_days * DAY),
                    )
                )
            residuals.append(
                Residual(
                    store="slack, sms",
                    holds="alert messages already posted (snapshot links stop working now)",
                    until=None,
                )
            )
        return residuals

    def _marker(self, incident_id: str) -> dict[str, Any] | None:
        item = self._s.dynamodb.get_item(
            TableName=self._s.incidents_table,
            Key=to_item({"PK": f"INCIDENT#{incident_id}", "SK": "ERASED"}),
            ConsistentRead=True,
        ).get("Item")
        return deserialize(item) if item else None

    # ---- stores --------------------------------------------------------------------------------
    def _delete_partition(self, table: str, pk: str, keep: tuple[str, ...]) -> int:
        keys = [
            {"PK": item["PK"], "SK": item["SK"]}
            for item in _query(
                self._s.dynamodb,
                TableName=table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="PK, SK",
                ConsistentRead=True,
            )
            if item["SK"]["S"] not in keep
        ]
        for start in range(0, len(keys), 25):
            request = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
            while request:
                response = self._s.dynamodb.batch_write_item(RequestItems=request)
                request = response.get("UnprocessedItems") or {}
        return len(keys)

    def _delete_idempotency(self, incident_id: str) -> int:
        """The notifiers' records name the incident in their data (the key is a hash): a Scan
        of a table whose items live IDEMPOTENCY_TTL_SECONDS (about two weeks)."""
        table = self._s.idempotency_table
        keys = [
            {"id": item["id"]}
            for item in scan_items(
                self._s.dynamodb,
                TableName=table,
                FilterExpression="contains(#data, :id)",
                ExpressionAttributeNames={"#data": "data"},
                ExpressionAttributeValues={":id": {"S": incident_id}},
                ProjectionExpression="id",
                ConsistentRead=True,
            )
        ]
        for key in keys:
            self._s.dynamodb.delete_item(TableName=table, Key=key)
        return len(keys)

    def _scrub_state(self, camera_id: str, incident_ids: set[str]) -> None:
        """Drop the incidents from the camera's grouping state (it holds their face boxes);
        a concurrent face_events write makes it read and try again."""
        for _ in range(10):
            item = self._s.dynamodb.get_item(
                TableName=self._s.incidents_table, Key=state_key(camera_id), ConsistentRead=True
            ).get("Item")
            if item is None:
                return
            state = CameraState.model_validate_json(item["state"]["S"])
            kept = tuple(i for i in state.incidents if i.incident_id not in incident_ids)
            if len(kept) == len(state.incidents):
                return
            try:
                self._put_state(item, state, kept)
                return
            except StateConflictError:
                continue
        raise StateConflictError(camera_id)

    def _put_state(
        self, item: dict[str, Any], state: CameraState, kept: tuple[IncidentState, ...]
    ) -> None:
        dropped = {i.incident_id for i in state.incidents} - {i.incident_id for i in kept}
        new = state.model_copy(
            update={
                "incidents": kept,
                "unconfirmed": tuple(i for i in state.unconfirmed if i not in dropped),
                "version": state.version + 1,
            }
        )
        try:
            self._s.dynamodb.put_item(
                TableName=self._s.incidents_table,
                Item={
                    **item,
                    "state": {"S": new.model_dump_json()},
                    "version": {"N": str(new.version)},
                },
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(state.version)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise StateConflictError(state.camera_id) from exc

    def _scrub_hints(self, employee_id: str) -> int:
        """Remove the employee as "closest match" from incidents and grouping states."""
        scrubbed = 0
        for item in scan_items(
            self._s.dynamodb,
            TableName=self._s.incidents_table,
            FilterExpression=(
                "contains(incident, :id) OR contains(#state, :id) OR contains(slackAlert, :id)"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":id": {"S": employee_id}},
            ConsistentRead=True,
        ):
            if item["SK"]["S"] == "INCIDENT" and employee_id in item.get("slackAlert", {}).get(
                "S", ""
            ):
                # the alert as Slack app mode keeps it to re-render the message
                alert = json.loads(item["slackAlert"]["S"])
                alert["closestEmployee"] = None
                if employee_id in str(alert.get("hint") or ""):
                    alert["hint"] = None
                self._s.dynamodb.update_item(
                    TableName=self._s.incidents_table,
                    Key={"PK": item["PK"], "SK": item["SK"]},
                    UpdateExpression="SET slackAlert = :a",
                    ExpressionAttributeValues={":a": {"S": json.dumps(alert)}},
                )
                scrubbed += 1
            if item["SK"]["S"] == "INCIDENT" and "incident" in item:
                incident = IncidentState.model_validate_json(item["incident"]["S"])
                cleaned = _without_employee(incident, employee_id)
                if cleaned != incident:
                    self._s.dynamodb.update_item(
                        TableName=self._s.incidents_table,
                        Key={"PK": item["PK"], "SK": item["SK"]},
                        UpdateExpression="SET incident = :i",
                        ExpressionAttributeValues={":i": {"S": cleaned.model_dump_json()}},
                    )
                    scrubbed += 1
            elif item["SK"]["S"] == "STATE":
                state = CameraState.model_validate_json(item["state"]["S"])
                kept = tuple(_without_employee(i, employee_id) for i in state.incidents)
                if kept != state.incidents:
                    self._put_state(item, state, kept)
                    scrubbed += 1
        return scrubbed

    def _delete_objects(self, bucket: str, day: str | None, incident_id: str) -> int:
        """Every version of the incident's objects: every snapshot under snapshots/<id>/
        (alerts.snapshots: the alert's and each better one), the older snapshots/<date>/<id>.jpg
        (the date from the incident or its marker) and clips/<id>/NNN.mp4 (clips.archive)."""
        versions: list[dict[str, str]] = []
        keys: set[str] = set()
        dated = [f"{p}{day}/" for p in OBJECT_PREFIXES] if day else []
        prefixes = [snapshot_prefix(incident_id), *dated, f"{ARCHIVE_PREFIX}{incident_id}/"]
        for prefix in prefixes:
            paginator = self._s.s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if incident_id in entry["Key"]:
                        versions.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
                        keys.add(entry["Key"])
        for start in range(0, len(versions), 1000):
            self._s.s3.delete_objects(
                Bucket=bucket, Delete={"Objects": versions[start : start + 1000], "Quiet": True}
            )
        return len(versions)

    def _sweep_queues(self, matches: Callable[[str], bool], what: str) -> list[Deletion]:
        return [
            Deletion(
                store=f"sqs:{url.rsplit('/', 1)[-1]}", what=what, count=self._sweep(url, matches)
            )
            for url in self._s.queues
        ]

    def _sweep(self, url: str, matches: Callable[[str], bool]) -> int:
        """Delete the matching messages; the others are made visible again at the end."""
        deleted, others = 0, []
        for _ in range(RECEIVE_ROUNDS):
            messages = self._s.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                if matches(message.get("Body", "")):
                    self._s.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    deleted += 1
                else:
                    others.append(message["ReceiptHandle"])
        for handle in others:
            self._s.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return deleted

    # ---- residuals and certificates ------------------------------------------------------------
    def _pitr(self, table: str) -> Residual:
        return Residual(
            store=f"dynamodb:{table} point-in-time recovery",
            holds="the deleted items, restorable by an administrator",
            until=iso(self._clock() + PITR_DAYS * DAY),
        )

    def _video_residual(self, camera_id: str, since: float, until: float) -> Residual:
        hours = self._retention_hours(camera_id)
        return Residual(
            store=f"kinesisvideo:{camera_id}",
            holds=f"video of {iso(since)} to {iso(until)} (KVS cannot delete fragments)",
            until=iso(until + hours * 3600) if hours is not None else None,
        )

    def _retention_hours(self, camera_id: str) -> int | None:
        if self._s.kvs is None:
            return None
        try:
            info = self._s.kvs.describe_stream(StreamName=camera_id)["StreamInfo"]
        except ClientError:
            return None
        return int(info.get("DataRetentionInHours", 0))

    def _certify(
        self,
        request: ErasureRequest,
        subject: str,
        deleted: list[Deletion],
        residuals: list[Residual],
    ) -> ErasureCertificate:
        certificate = ErasureCertificate(
            request=request,
            subject=subject,
            issued_at=iso(self._clock()),
            actor=self._actor,
            region=self._s.region,
            deleted=deleted,
            residuals=residuals,
        )
        self._s.consent.table.put_item(Item=certificate.item())
        return certificate


def _without_employee(incident: IncidentState, employee_id: str) -> IncidentState:
    """The incident with no hint naming the employee (closest match, possible-match band)."""
    closest = incident.closest
    if closest is not None and closest.employee_id == employee_id:
        closest = None
    tally = incident.band_tally
    candidates = tuple(c for c in tally.candidates if c.employee_id != employee_id)
    if closest is incident.closest and candidates == tally.candidates:
        return incident
    return incident.model_copy(
        update={
            "closest": closest,
            "band_tally": tally.model_copy(update={"candidates": candidates}),
        }
    )


class StateConflictError(RuntimeError):
    """face_events changed the camera's state meanwhile: run the erasure again (idempotent)."""


def _reject_of(body: str, camera_id: str, since: float, until: float) -> bool:
    """A rejected record (detections.rejects) of this camera that arrived in the range."""
    try:
        message = json.loads(body)
    except ValueError:
        return False
    if not isinstance(message, dict) or "data" not in message or "shardId" not in message:
        return False
    arrived = message.get("approximateArrivalTimestamp")
    if not isinstance(arrived, (int, float)):
        return False
    if not since - REJECT_SLACK_SECONDS <= arrived <= until + REJECT_SLACK_SECONDS:
        return False
    try:
        data = base64.b64decode(str(message["data"]), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return False
    return f"stream/{camera_id}/" in data or message.get("partitionKey") == camera_id


def _merge(deleted: list[Deletion]) -> list[Deletion]:
    totals: dict[tuple[str, str], int] = {}
    for d in deleted:
        totals[(d.store, d.what)] = totals.get((d.store, d.what), 0) + d.count
    return [Deletion(store=s, what=w, count=n) for (s, w), n in totals.items()]


def _dedupe(residuals: list[Residual]) -> list[Residual]:
    seen: dict[tuple[str, str], Residual] = {}
    for r in residuals:
        key = (r.store, r.holds)
        if key not in seen or (r.until or "") > (seen[key].until or ""):
            seen[key] = r
    return list(seen.values())


def _query(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        response = client.query(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def scan_items(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        response = client.scan(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
