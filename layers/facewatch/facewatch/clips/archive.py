"""The clip archive: an incident's video, kept as MP4 after KVS has dropped it.

KVS keeps a camera's video for the stream's retention (hours to days); a clip link lives
CLIP_LINK_TTL_DAYS. So when an incident alerts, its clip (the fragment holding "first detection
- pre-roll" up to "last detection + post-roll") is copied with GetClip into the private,
KMS-encrypted bucket under ``clips/<incident id>/NNN.mp4``, where a lifecycle rule deletes it
after CLIP_ARCHIVE_RETENTION_DAYS. The archive is re-checked until the incident has ended
(no detection for INCIDENT_WINDOW_SECONDS): the fragments added meanwhile become further parts,
so nothing is copied twice. The incident item keeps the archive (``clipArchive``) and its trail
a ``clip-archived`` entry per copy.

GetClip returns at most 200 fragments or 100 MB from its start: a part holds at most 200
fragments and ``MAX_PART_BYTES`` of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from facewatch.clips.fragments import LOOKBACK_SECONDS, Fragment, FragmentSource, containing
from facewatch.clips.media import KvsMediaClients
from facewatch.observability import MetricUnit, logger, metrics
from facewatch.timestamps import iso, to_datetime

GET_CLIP_API = "GET_CLIP"
ARCHIVE_PREFIX = "clips/"
MAX_PART_FRAGMENTS = 200  # GetClip's fragment limit
MAX_PART_BYTES = 90 * 1024 * 1024  # GetClip stops at 100 MB; MP4 boxes add a little
# A clip end "inclusive" on fragment starts: 1 ms past the last start takes exactly it.
_JUST_PAST = 0.001
_SERIALIZER = TypeSerializer()


class ArchivePart(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    start: float  # first fragment's producer timestamp
    end: float  # last fragment's end
    last_fragment_start: float
    fragments: int
    bytes: int


class ClipArchive(BaseModel):
    """What is archived of one incident (the incident item's ``clipArchive``)."""

    model_config = ConfigDict(frozen=True)
    parts: tuple[ArchivePart, ...] = ()

    @property
    def end(self) -> float | None:
        return self.parts[-1].end if self.parts else None


class ArchiveIncident(Protocol):
    """What the archiver reads of an incident (the audit history's record has it)."""

    @property
    def incident_id(self) -> str: ...
    @property
    def stream_arn(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...


class ArchiveIncidents(Protocol):
    def get(self, incident_id: str) -> ArchiveIncident | None: ...


class Rechecks(Protocol):
    def later(self, incident_id: str, delay_seconds: float) -> None:
        """Look at the incident's archive again in about ``delay_seconds``."""
        ...


MAX_SQS_DELAY = 900  # SQS DelaySeconds ceiling


class SqsRechecks:
    """A delayed message on the archiver's own queue (re-checks longer than 15 min hop)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def later(self, incident_id: str, delay_seconds: float) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps({"incidentId": incident_id}),
            DelaySeconds=max(0, min(MAX_SQS_DELAY, math.ceil(delay_seconds))),
        )


class ClipSource(Protocol):
    def clip(self, stream_arn: str, start: float, end: float) -> bytes:
        """The MP4 of the fragments starting in [start, end] (GetClip)."""
        ...


class KvsClips:
    """GetClip on the stream's GET_CLIP endpoint (cached per stream)."""

    def __init__(self, kvs_client: Any, media_client_for: Callable[[str], Any]) -> None:
        self._media = KvsMediaClients(kvs_client, GET_CLIP_API, media_client_for)

    def clip(self, stream_arn: str, start: float, end: float) -> bytes:
        response = self._media.for_stream(stream_arn).get_clip(
            StreamARN=stream_arn,
            ClipFragmentSelector={
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {
                    "StartTimestamp": to_datetime(start),
                    "EndTimestamp": to_datetime(end),
                },
            },
        )
        body: bytes = response["Payload"].read()
        return body


class ObjectStore(Protocol):
    def put(self, key: str, body: bytes) -> None: ...
    def presigned_url(self, key: str, expires_in: int) -> str: ...


class S3ObjectStore:
    """The private bucket (default encryption: the stack's KMS key)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="video/mp4",
            ServerSideEncryption="aws:kms",
        )

    def presigned_url(self, key: str, expires_in: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url


class ArchiveLedger(Protocol):
    def load(self, incident_id: str) -> ClipArchive: ...
    def record(
        self, incident_id: str, archive: ClipArchive, added: list[ArchivePart], at: float
    ) -> None:
        """Keep ``archive`` on the incident and add a trail entry for ``added``."""
        ...


class DynamoArchiveLedger:
    """``clipArchive`` (JSON) on the incident item, and one ``clip-archived`` trail item."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(incident_id: str) -> dict[str, Any]:
        return {"PK": {"S": f"INCIDENT#{incident_id}"}, "SK": {"S": "INCIDENT"}}

    def load(self, incident_id: str) -> ClipArchive:
        item = self._client.get_item(
            TableName=self._table,
            Key=self._key(incident_id),
            ProjectionExpression="clipArchive",
            ConsistentRead=True,
        ).get("Item", {})
        text = item.get("clipArchive", {}).get("S")
        return ClipArchive.model_validate_json(text) if text else ClipArchive()

    def record(
        self, incident_id: str, archive: ClipArchive, added: list[ArchivePart], at: float
    ) -> None:
        before = len(archive.parts) - len(added)
        trail = {
            "PK": f"INCIDENT#{incident_id}",
            "SK": f"EVENT#{iso(at)}#clip-archived-{before:03d}",
            "kind": "clip-archived",
            "at": iso(at),
            "actor": "clip_archiver",
            "parts": len(added),
            "from": iso(added[0].start),
            "to": iso(added[-1].end),
            "bytes": sum(p.bytes for p in added),
            "keys": [p.key for p in added],
        }
        # Both or neither; the condition makes two archivers racing on one incident harmless
        # (the loser's parts are overwritten by the winner's identical keys, its record refused).
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(incident_id),
                        "UpdateExpression": "SET clipArchive = :archive, clipArchiveParts = :n",
                        "ConditionExpression": "attribute_exists(PK) AND "
                        "(attribute_not_exists(clipArchiveParts) OR clipArchiveParts = :before)",
                        "ExpressionAttributeValues": {
                            ":archive": {"S": archive.model_dump_json()},
                            ":n": {"N": str(len(archive.parts))},
                            ":before": {"N": str(before)},
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {k: _SERIALIZER.serialize(v) for k, v in trail.items()},
                        "ConditionExpression": "attribute_not_exists(SK)",
                    }
                },
            ]
        )


@dataclass(frozen=True, slots=True)
class ArchiveTiming:
    pre_roll_seconds: float = 5.0
    post_roll_seconds: float = 5.0
    window_seconds: float = 60.0  # INCIDENT_WINDOW_SECONDS: quiet this long, the visit is over
    # Fragments of the last seconds may not be listed yet (ingestion, eventual consistency).
    settle_seconds: float = 10.0


@dataclass(slots=True)
class ArchiveOutcome:
    added: list[ArchivePart] = field(default_factory=list)
    recheck_in: float | None = None  # seconds until the next look; None: the archive is done


def _parts(fragments: list[Fragment]) -> Iterator[list[Fragment]]:
    part: list[Fragment] = []
    size = 0
    for fragment in fragments:
        if part and (len(part) >= MAX_PART_FRAGMENTS or size + fragment.size > MAX_PART_BYTES):
            yield part
            part, size = [], 0
        part.append(fragment)
        size += fragment.size
    if part:
        yield part


class ClipArchiver:
    def __init__(
        self,
        fragments: FragmentSource,
        clips: ClipSource,
        store: ObjectStore,
        ledger: ArchiveLedger,
        timing: ArchiveTiming,
    ) -> None:
        self._fragments = fragments
        self._clips = clips
        self._store = store
        self._ledger = ledger
        self._timing = timing

    def archive(self, incident: ArchiveIncident, now: float) -> ArchiveOutcome:
        timing = self._timing
        current = self._ledger.load(incident.incident_id)
        last_seen = incident.last_seen.timestamp()
        wanted_end = last_seen + timing.post_roll_seconds
        upto = min(wanted_end, now - timing.settle_seconds)
        # quiet for the window, and every fragment up to the post-roll listed: done
        over_at = (
            last_seen + timing.post_roll_seconds + max(timing.window_seconds, timing.settle_seconds)
        )
        recheck = None if now >= over_at else over_at - now
        new = self._new_fragments(incident, current, upto)
        added: list[ArchivePart] = []
        for part in _parts(new):
            key = (
                f"{ARCHIVE_PREFIX}{incident.incident_id}/{len(current.parts) + len(added):03d}.mp4"
            )
            body = self._clips.clip(incident.stream_arn, part[0].start, part[-1].start + _JUST_PAST)
            self._store.put(key, body)
            added.append(
                ArchivePart(
                    key=key,
                    start=part[0].start,
                    end=part[-1].end,
                    last_fragment_start=part[-1].start,
                    fragments=len(part),
                    bytes=len(body),
                )
            )
        if added:
            archive = ClipArchive(parts=current.parts + tuple(added))
            self._ledger.record(incident.incident_id, archive, added, now)
        return ArchiveOutcome(added=added, recheck_in=recheck)

    def _new_fragments(
        self, incident: ArchiveIncident, current: ClipArchive, upto: float
    ) -> list[Fragment]:
        stream = incident.stream_arn
        if current.parts:
            after = current.parts[-1].last_fragment_start
            if upto <= after:
                return []
            return [f for f in self._fragments.fragments(stream, after, upto) if f.start > after]
        pre_roll = incident.first_seen.timestamp() - self._timing.pre_roll_seconds
        if upto <= pre_roll - LOOKBACK_SECONDS:
            return []
        listed = self._fragments.fragments(stream, pre_roll - LOOKBACK_SECONDS, upto)
        first = containing(listed, pre_roll)
        start = first.start if first else pre_roll
        return [f for f in listed if f.start >= start]


# KVS has no fragments left for the range (retention passed, or the stream is gone).
GONE_ERRORS = frozenset({"ResourceNotFoundException", "NoDataRetentionException"})


def archive_once(
    incident_id: str,
    incidents: ArchiveIncidents,
    archiver: ClipArchiver,
    rechecks: Rechecks,
    now: float,
) -> ArchiveOutcome | None:
    """One look at an incident's archive; schedules the next look while the visit may grow.
    Raises on what a retry can fix (throttling, S3 or DynamoDB errors)."""
    incident = incidents.get(incident_id)
    if incident is None:  # expired or erased: nothing to keep
        logger.info("incident gone; nothing to archive", extra={"incident_id": incident_id})
        return None
    try:
        outcome = archiver.archive(incident, now)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in GONE_ERRORS:
            raise
        logger.warning("video gone before it was archived", extra={"incident_id": incident_id})
        metrics.add_metric(name="ClipArchiveMissed", unit=MetricUnit.Count, value=1)
        return None
    if outcome.added:
        metrics.add_metric(
            name="ClipPartsArchived", unit=MetricUnit.Count, value=len(outcome.added)
        )
        logger.info(
            "clip archived",
            extra={
                "incident_id": incident_id,
                "parts": len(outcome.added),
                "bytes": sum(p.bytes for p in outcome.added),
            },
        )
    if outcome.recheck_in is not None:
        rechecks.later(incident_id, outcome.recheck_in)
    return outcome
