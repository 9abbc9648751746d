"""The Slack message of an incident, kept on the incident and re-rendered as the incident moves.

App mode stores the message's channel and ts on the incident item (``slackChannel``,
``slackTs``) with the alert as first posted (``slackAlert``: location, face, clip). Whenever
something may have changed (face_events' ``Incident Updated``, a status change, a merge, the
ticker's minute), ``reconcile`` renders the message from the item as it is now: detections,
last seen, best face and closest employee (face_events keeps them current), status and who
changed it, ``mergedInto``, and whether the visit has ended (last seen more than
INCIDENT_WINDOW_SECONDS ago). An unchanged rendering (same digest) costs
nothing; a changed one is sent with chat.update at most once per ``min_interval`` per message:
``slackUpdatedAt`` is claimed with a conditional write, so two notifier containers cannot both
update within the interval. A throttled change is not lost: the next reconcile sends it.
Follow-ups (status changes, merge, escalation, end of visit) go into the message's thread, each
once (``slackNotes``, a string set).

A better snapshot (``BetterSnapshots``, the notifier's reconciles only: the ticker's role has no
access to video or face images): when the incident's best face (``bestFace``, its frame time
``bestFaceAt``) is from another frame than the one the message's snapshot shows and scores at
least BETTER_SNAPSHOT_MARGIN times the face that snapshot was taken for, a new snapshot of that
frame replaces it (``slackSnapshot``, ``slackSnapshotAt``, ``slackSnapshotScore``). It rides on
the update claim: at most one per message per ``min_interval``. A failed one keeps the old
snapshot (and is tried again at the next claimed update); the update goes out regardless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from facewatch.alerts.event import AlertDetail, BestFace, ClosestEmployee
from facewatch.alerts.settings import SlackAppSettings
from facewatch.alerts.slack.app import PostedMessage
from facewatch.alerts.slack.messages import Lifecycle, SlackMessage, alert_message, visit_length
from facewatch.alerts.snapshots import BETTER_SNAPSHOT_MARGIN, face_score
from facewatch.alerts.view import alert_view
from facewatch.observability import logger
from facewatch.timestamps import iso

OPEN_STATUSES = ("open", "escalated")  # ByStatus partitions the ticker looks at


@dataclass(frozen=True, slots=True)
class IncidentMessage:
    """An incident with a Slack message, as the item says now."""

    incident_id: str
    posted: PostedMessage
    alert: AlertDetail
    snapshot_url: str | None
    detections: int
    last_seen: datetime
    status: str
    changed_by: str | None
    merged_into: str | None
    digest: str | None
    notes: frozenset[str]
    # as face_events last wrote them (None: not grown since the alert, which has them)
    best_face: BestFace | None = None
    closest: ClosestEmployee | None = None
    best_face_at: datetime | None = None  # the best face's frame (None: unknown, older items)
    # the frame a better snapshot showed and its face's score (None: the first detection's)
    snapshot_at: datetime | None = None
    snapshot_score: float | None = None

    def lifecycle(self, now: float, window_seconds: float, mention: str) -> Lifecycle:
        ended = now - self.last_seen.timestamp() > window_seconds
        return Lifecycle(
            status=self.status,
            changed_by=self.changed_by if self.status != "open" else None,
            merged_into=self.merged_into,
            ended_after=(self.last_seen - self.alert.first_seen) if ended else None,
            escalated_after_minutes=_auto_minutes(self.notes)
            if self.status == "escalated"
            else None,
            mention=mention,
        )

    def current_alert(self) -> AlertDetail:
        update: dict[str, object] = {"detections": self.detections, "last_seen": self.last_seen}
        if self.best_face is not None:
            update["best_face"] = self.best_face
        if self.closest is not None:
            update["closest_employee"] = self.closest
        return self.alert.model_copy(update=update)

    def shown_frame(self) -> tuple[datetime, float]:
        """The frame the snapshot is of and the score of the face it was taken for. The
        alert's snapshot is of the first detection; its face is scored as the alert's best
        face, at least as good as the first one: a later face must beat the best the alert
        had, the safe side against churn."""
        if self.snapshot_at is not None and self.snapshot_score is not None:
            return self.snapshot_at, self.snapshot_score
        return self.alert.first_seen, face_score(self.alert.best_face)


def _auto_minutes(notes: frozenset[str]) -> int | None:
    for note in notes:
        if note.startswith("auto-escalated#"):
            return int(note.split("#", 1)[1])
    return None


class MessageStore(Protocol):
    def load(self, incident_id: str) -> IncidentMessage | None: ...

    def record_post(
        self, incident_id: str, posted: PostedMessage, alert: AlertDetail, snapshot: str | None
    ) -> bool: ...

    def claim_update(self, incident_id: str, now: float, min_interval: float) -> bool: ...

    def record_digest(self, incident_id: str, digest: str) -> None: ...

    def note_once(self, incident_id: str, note: str) -> bool: ...

    def open_incidents(self, since: float) -> Iterator[str]: ...


_Shown = TypeVar("_Shown", BestFace, ClosestEmployee)


def _parsed(model: type[_Shown], raw: str | None) -> _Shown | None:
    """An attribute face_events wrote; one it cannot read leaves the alert's value shown."""
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValueError:
        logger.warning("incident attribute unreadable", extra={"model": model.__name__})
        return None


def _time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("incident time unreadable")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(incident_id: str) -> dict[str, Any]:
    return {"PK": _s(f"INCIDENT#{incident_id}"), "SK": _s("INCIDENT")}


def _conditional_failed(exc: ClientError) -> bool:
    code: object = exc.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class DynamoMessageStore:
    """The Slack attributes of the incident item (PK=INCIDENT#<id>, SK=INCIDENT)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load(self, incident_id: str) -> IncidentMessage | None:
        item = self._client.get_item(
            TableName=self._table, Key=_key(incident_id), ConsistentRead=True
        ).get("Item")
        if not item or "slackTs" not in item:
            return None

        def text(name: str) -> str | None:
            return str(item[name]["S"]) if name in item else None

        return IncidentMessage(
            incident_id=incident_id,
            posted=PostedMessage(item["slackChannel"]["S"], item["slackTs"]["S"]),
            alert=AlertDetail.model_validate_json(item["slackAlert"]["S"]),
            snapshot_url=text("slackSnapshot"),
            detections=int(item["detections"]["N"]),
            last_seen=datetime.fromisoformat(item["lastSeen"]["S"].replace("Z", "+00:00")),
            status=text("status") or "open",
            changed_by=text("statusChangedBy"),
            merged_into=text("mergedInto"),
            digest=text("slackDigest"),
            notes=frozenset(item.get("slackNotes", {}).get("SS", [])),
            best_face=_parsed(BestFace, text("bestFace")),
            closest=_parsed(ClosestEmployee, text("closestEmployee")),
            best_face_at=_time(text("bestFaceAt")),
            snapshot_at=_time(text("slackSnapshotAt")),
            snapshot_score=(
                float(item["slackSnapshotScore"]["N"]) if "slackSnapshotScore" in item else None
            ),
        )

    def record_post(
        self, incident_id: str, posted: PostedMessage, alert: AlertDetail, snapshot: str | None
    ) -> bool:
        values: dict[str, Any] = {
            ":c": _s(posted.channel),
            ":t": _s(posted.ts),
            ":a": _s(alert.model_dump_json(by_alias=True)),
        }
        sets = "slackChannel = :c, slackTs = :t, slackAlert = :a"
        if snapshot:
            values[":s"] = _s(snapshot)
            sets += ", slackSnapshot = :s"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(incident_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(slackTs)",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def record_snapshot(self, incident_id: str, url: str, at: datetime, score: float) -> None:
        """The message's snapshot is now of the frame at ``at`` (its face scored ``score``)."""
        self._client.update_item(
            TableName=self._table,
            Key=_key(incident_id),
            UpdateExpression=(
                "SET slackSnapshot = :u, slackSnapshotAt = :a, slackSnapshotScore = :s"
            ),
            ConditionExpression="attribute_exists(slackTs)",
            ExpressionAttributeValues={
                ":u": _s(url),
                ":a": _s(iso(at.timestamp())),
                ":s": {"N": f"{score:.6f}"},
            },
        )

    def claim_update(self, incident_id: str, now: float, min_interval: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(incident_id),
                UpdateExpression="SET slackUpdatedAt = :now",
                ConditionExpression=(
                    "attribute_exists(slackTs) AND "
                    "(attribute_not_exists(slackUpdatedAt) OR slackUpdatedAt <= :cutoff)"
                ),
                ExpressionAttributeValues={
                    ":now": {"N": repr(round(now, 3))},
                    ":cutoff": {"N": repr(round(now - min_interval, 3))},
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def record_digest(self, incident_id: str, digest: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=_key(incident_id),
            UpdateExpression="SET slackDigest = :d",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":d": _s(digest)},
        )

    def note_once(self, incident_id: str, note: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(incident_id),
                UpdateExpression="ADD slackNotes :n",
                ConditionExpression="attribute_exists(slackTs) AND NOT contains(slackNotes, :v)",
                ExpressionAttributeValues={":n": {"SS": [note]}, ":v": _s(note)},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def open_incidents(self, since: float) -> Iterator[str]:
        """Incidents still open or escalated that began after ``since`` (the ByStatus index)."""
        for status in OPEN_STATUSES:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "ByStatus",
                "KeyConditionExpression": "GSI3PK = :p AND GSI3SK >= :since",
                "ExpressionAttributeValues": {
                    ":p": _s(f"STATUS#{status}"),
                    ":since": _s(iso(since)),
                },
                "ProjectionExpression": "incidentId, slackTs",
            }
            while True:
                page = self._client.query(**kwargs)
                for item in page.get("Items", []):
                    if "slackTs" in item:
                        yield item["incidentId"]["S"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class SlackApi(Protocol):
    def post(
        self, token: str, channel: str, message: SlackMessage, thread_ts: str | None = None
    ) -> PostedMessage: ...

    def update(self, token: str, posted: PostedMessage, message: SlackMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class ThreadSettings:
    min_update_interval: float = 10.0  # at most one chat.update per message in this many s
    window_seconds: float = 60.0  # INCIDENT_WINDOW_SECONDS: a quiet camera this long = visit over
    mention: str = "<!here>"
    match_threshold: float = 80.0


def thread_settings(settings: SlackAppSettings) -> ThreadSettings:
    return ThreadSettings(
        min_update_interval=settings.slack_update_min_interval_seconds,
        window_seconds=settings.incident_window_seconds,
        mention=settings.slack_mention,
        match_threshold=settings.face_match_threshold,
    )


class FrameSnapshots(Protocol):
    """alerts.snapshots.BoundedSnapshots: the frame at ``at`` stored under the site's privacy
    policy, its URL, or None (logged)."""

    def snapshot_url(self, detail: AlertDetail, at: datetime | None = None) -> str | None: ...


class SnapshotRecords(Protocol):
    def record_snapshot(self, incident_id: str, url: str, at: datetime, score: float) -> None: ...


@dataclass(frozen=True, slots=True)
class BetterSnapshots:
    """A new snapshot when the incident's best face is clearly better than the snapshot's."""

    source: FrameSnapshots
    records: SnapshotRecords
    margin: float = BETTER_SNAPSHOT_MARGIN

    def due(self, message: IncidentMessage) -> datetime | None:
        """The best face's frame if it deserves a new snapshot, else None."""
        best, at = message.best_face, message.best_face_at
        if best is None or at is None or message.merged_into:
            return None  # not grown, frame unknown (an older item), or merged: keep it
        shown_at, shown_score = message.shown_frame()
        if at == shown_at or face_score(best) < self.margin * shown_score:
            return None
        return at

    def take(self, message: IncidentMessage, at: datetime) -> IncidentMessage:
        """The message with the new snapshot, or as it was if none could be taken."""
        alert = message.current_alert()  # its best face: the one in that frame (blurred)
        score = face_score(alert.best_face)
        try:
            url = self.source.snapshot_url(alert, at)
            if url is None:
                return message  # BoundedSnapshots logged why; the old snapshot stays
            self.records.record_snapshot(message.incident_id, url, at, score)
        except Exception as exc:  # the update goes out with the old snapshot
            logger.warning(
                "better snapshot not taken",
                extra={"incident_id": message.incident_id, "reason": type(exc).__name__},
            )
            return message
        logger.info("better snapshot taken", extra={"incident_id": message.incident_id})
        return replace(message, snapshot_url=url, snapshot_at=at, snapshot_score=score)


def digest_of(message: SlackMessage) -> str:
    body = json.dumps({"t": message.text, "b": message.blocks}, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:32]


class SlackThreads:
    """Post, reconcile and thread notes for app-mode messages."""

    def __init__(
        self,
        store: MessageStore,
        api: SlackApi,
        token: Callable[[], str],
        settings: ThreadSettings,
        clip_link: Callable[[AlertDetail], str | None],
        *,
        snapshots: BetterSnapshots | None = None,
    ) -> None:
        self.store = store
        self._api = api
        self._token = token
        self.settings = settings
        self._clip_link = clip_link
        self._snapshots = snapshots  # None: the message keeps its snapshot (ticker, no bucket)

    def render(self, message: IncidentMessage, now: float) -> SlackMessage:
        settings = self.settings
        alert = message.current_alert()
        view = alert_view(
            alert,
            self._clip_link(alert),
            message.snapshot_url,
            match_threshold=settings.match_threshold,
        )
        return alert_message(
            view,
            message.lifecycle(now, settings.window_seconds, settings.mention),
            snapshot_at=message.snapshot_at,
        )

    def post(
        self, channel: str, alert: AlertDetail, message: SlackMessage, snapshot: str | None
    ) -> PostedMessage:
        posted = self._api.post(self._token(), channel, message)
        try:
            stored = self.store.record_post(alert.incident_id, posted, alert, snapshot)
        except Exception:
            # The alert is out; only its later updates are lost. Never post it twice for this.
            logger.exception("Slack message not recorded", extra={"incident_id": alert.incident_id})
            stored = False
        if stored:
            self.store.record_digest(alert.incident_id, digest_of(message))
        return posted

    def reconcile(self, incident_id: str, now: float, merged_into: str | None = None) -> str:
        """Bring the message up to date: "updated", "unchanged", "throttled" or "none".
        ``merged_into``: from the merge event, if the item does not say it (yet)."""
        message = self.store.load(incident_id)
        if message is None:
            return "none"  # webhook mode, or posted before app mode
        if merged_into and not message.merged_into:
            message = replace(message, merged_into=merged_into)
        better = self._snapshots.due(message) if self._snapshots else None
        rendered = self.render(message, now)
        digest = digest_of(rendered)
        if digest == message.digest and better is None:
            return "unchanged"
        if not self.store.claim_update(incident_id, now, self.settings.min_update_interval):
            return "throttled"
        if self._snapshots is not None and better is not None:
            message = self._snapshots.take(message, better)
            rendered = self.render(message, now)
            digest = digest_of(rendered)
            if digest == message.digest:
                return "unchanged"  # no snapshot, and nothing else changed
        self._api.update(self._token(), message.posted, rendered)
        self.store.record_digest(incident_id, digest)
        self._note_end(message, now)
        return "updated"

    def note(self, incident_id: str, key: str, text: str) -> bool:
        """A follow-up in the message's thread, once per ``key``; False if none was posted."""
        message = self.store.load(incident_id)
        if message is None or not self.store.note_once(incident_id, key):
            return False
        reply = SlackMessage(
            text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        )
        self._api.post(self._token(), message.posted.channel, reply, thread_ts=message.posted.ts)
        return True

    def _note_end(self, message: IncidentMessage, now: float) -> None:
        state = message.lifecycle(now, self.settings.window_seconds, self.settings.mention)
        if state.ended_after is not None:
            self.note(
                message.incident_id,
                "ended",
                f"⏹ Visit ended after {visit_length(state.ended_after)} "
                f"({message.detections} detections).",
            )
