"""The face_events pipeline: one Kinesis batch of processor records -> incidents -> alerts.

Per record (called by Powertools' BatchProcessor): decode, validate, classify every face, keep
the frame's best unknown face as a detection of its camera. Malformed records are rejected with
a reason and kept in the rejected-records queue; they never fail their neighbours.

Per batch (``finish``): for each camera with detections, one read of its state, the pure
grouping of ``incidents``, one conditional write; then clip links and one PutEvents per ten
events (alerts, merge notices, and ``Incident Updated`` for alerted incidents that grew). What
fails (a camera's write, an alert's publish) fails only that camera's records, so Lambda
redelivers them; the state's watermarks make the redelivery change nothing twice. A lost
update fails nothing: it is a live hint the alert ticker makes good within a minute.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from pydantic import ValidationError

from facewatch.alerts.bus import BusEvent, EventPublisher
from facewatch.alerts.event import (
    ALERT_DETAIL_TYPE,
    AlertDetail,
    CameraLocation,
    Clip,
)
from facewatch.alerts.merged import MERGED_DETAIL_TYPE, IncidentMergedDetail
from facewatch.alerts.updated import UPDATED_DETAIL_TYPE, IncidentUpdatedDetail
from facewatch.clips.hls import ClipProvider
from facewatch.detections.bands import Band, hint_text, pages
from facewatch.detections.classification import ClassifiedFace, FaceClass, classify
from facewatch.detections.incidents import (
    CameraState,
    Detection,
    IncidentState,
    group,
    needs_recall,
    watermark_key,
)
from facewatch.detections.records import ProcessorRecord, is_canary_camera
from facewatch.detections.rejects import RejectedRecord, RejectSink, decode_base64, reason_for
from facewatch.detections.store import (
    LEASE_SECONDS,
    Changes,
    Claim,
    CommitConflictError,
    CommitRejectedError,
    IncidentExistsError,
    IncidentMissingError,
    IncidentStore,
    Kind,
    Outstanding,
    public_best_face,
    public_closest,
)
from facewatch.fleet.profiles import PrivacyProfile
from facewatch.observability import MetricUnit, logger
from facewatch.observability import metrics as default_metrics
from facewatch.settings import FaceEventsSettings
from facewatch.timestamps import to_datetime

MAX_COMMIT_ATTEMPTS = 8
SETTLE_ATTEMPTS = 3


class CameraDirectory(Protocol):
    """Where a camera is (site, zone, display name, time zone), from the camera registry."""

    def location(self, camera_id: str) -> CameraLocation | None: ...


class NoDirectory:
    def location(self, camera_id: str) -> CameraLocation | None:
        return None


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


@dataclass(slots=True)
class Adapters:
    store: IncidentStore
    publisher: EventPublisher
    clips: ClipProvider
    rejects: RejectSink
    directory: CameraDirectory = field(default_factory=NoDirectory)
    clock: Callable[[], float] = time.time
    metrics: MetricsSink = default_metrics
    # camera id -> its site's privacy profile (the registry); None: every camera recognises
    privacy: Callable[[str], PrivacyProfile | None] | None = None


@dataclass(slots=True)
class _CameraBatch:
    detections: list[Detection] = field(default_factory=list)
    records: list[KinesisStreamRecord] = field(default_factory=list)


class RedeliveryError(Exception):
    """Why a record is handed back to Lambda for redelivery."""


@dataclass(slots=True)
class _Work:
    """What a camera's commit leaves to publish: alerts and merge notices this invocation
    holds the claim of, and the outstanding items of earlier batches."""

    held_alerts: list[IncidentState] = field(default_factory=list)
    held_merges: list[IncidentState] = field(default_factory=list)
    outstanding: list[Outstanding] = field(default_factory=list)
    # hinted possible incidents that turned unknown: their alert again, this time paging (its
    # alert was published already, so no claim; not retried past this batch if it fails)
    escalated: list[IncidentState] = field(default_factory=list)
    # alerted incidents that grew, whose "Incident Updated" is due (best effort, no claim)
    updates: list[IncidentState] = field(default_factory=list)


@dataclass(slots=True)
class _Attempt:
    """What one camera's regroups learn from the conditional failures of earlier attempts."""

    recalled: dict[str, IncidentState] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    exists: set[str] = field(default_factory=set)


def _pruned(state: CameraState, before: tuple[str, ...], read: list[Outstanding]) -> CameraState:
    """The state without the unconfirmed ids that are settled (or have no item at all)."""
    open_ids = {o.incident.incident_id for o in read if not o.settled}
    known = {o.incident.incident_id for o in read}
    done = {i for i in before if i in known and i not in open_ids} | (set(before) - known)
    if not done:
        return state
    return state.model_copy(
        update={"unconfirmed": tuple(i for i in state.unconfirmed if i not in done)}
    )


class UnapplicableError(Exception):
    """The camera's records can never be applied (DynamoDB refuses the write as such): they
    become rejects with this reason instead of failing their shard forever."""


@dataclass(frozen=True, slots=True)
class _Task:
    kind: Literal["alert", "merge", "escalation", "update"]
    incident: IncidentState
    camera_id: str
    merged_into: str | None = None


class FaceEventsBatch:
    def __init__(self, settings: FaceEventsSettings, adapters: Adapters) -> None:
        self._settings = settings
        self._adapters = adapters
        self._cameras: dict[str, _CameraBatch] = defaultdict(_CameraBatch)
        self._rejected: list[tuple[KinesisStreamRecord, RejectedRecord]] = []
        self.counts: Counter[str] = Counter()
        self._token = uuid.uuid4().hex  # this invocation's claims
        self._survivors: dict[str, IncidentState] = {}  # absorbed id -> survivor, for notices
        self.failed_publishes = 0

    # ---- per record ------------------------------------------------------------------------
    def add(self, record: KinesisStreamRecord) -> None:
        """Record handler for Powertools' BatchProcessor (the parameter must be named record)."""
        self.counts["records"] += 1
        kinesis = record.kinesis
        try:
            frame = ProcessorRecord.model_validate_json(decode_base64(kinesis.data))
        except (ValueError, ValidationError) as exc:
            self._reject(record, reason_for(exc))
            return
        self.counts["processed"] += 1
        if self._recognition_off(frame.camera_id):
            # A processor left running at a recognition-off site: its faces are not kept.
            self.counts["recognition_off"] += 1
            return
        best: ClassifiedFace | None = None
        closest = None
        band = Band.POSSIBLE  # until a stranger is in the frame
        for entry in frame.faces:
            face = classify(entry, self._settings)
            self.counts[f"faces_{face.face_class}"] += 1
            if face.face_class is FaceClass.UNKNOWN:
                if face.band is Band.UNKNOWN:
                    band = Band.UNKNOWN
                if best is None or face.area * face.confidence > best.area * best.confidence:
                    best = face
                if face.closest and (
                    closest is None or face.closest.similarity > closest.similarity
                ):
                    closest = face.closest
        if best is None:
            return
        camera = frame.camera_id
        batch = self._cameras[camera]
        batch.records.append(record)
        batch.detections.append(
            Detection(
                camera_id=camera,
                stream_arn=frame.stream_arn,
                frame_time=self._frame_time(frame),
                frame_key=frame.frame_key,
                shard_key=watermark_key(record.event_source_arn, record.event_id.split(":", 1)[0]),
                sequence_number=kinesis.sequence_number,
                face=best,
                closest=closest,
                band=band,
            )
        )

    def _recognition_off(self, camera_id: str) -> bool:
        profile = self._adapters.privacy(camera_id) if self._adapters.privacy else None
        return profile is not None and not profile.recognition

    def _frame_time(self, frame: ProcessorRecord) -> float:
        """The producer's frame time, unless its clock is off by more than the allowed skew
        from KVS's own (server) time: then the server time. One bad clock never trims a
        camera's state or splits a visit."""
        video = frame.InputInformation.KinesisVideo
        producer, offset = video.ProducerTimestamp, video.FrameOffsetInSeconds
        if abs(producer - video.ServerTimestamp) <= self._settings.max_clock_skew_seconds:
            return producer + offset
        self.counts["clock_corrected"] += 1
        return video.ServerTimestamp + offset

    def _reject(self, record: KinesisStreamRecord, reason: str) -> None:
        self.counts["rejected"] += 1
        kinesis = record.kinesis
        rejected = RejectedRecord(
            reason=reason,
            shard_id=record.event_id.split(":", 1)[0],
            sequence_number=kinesis.sequence_number,
            partition_key=kinesis.partition_key,
            arrival_time=kinesis.approximate_arrival_timestamp,
            data_base64=kinesis.data,
            event_source_arn=record.event_source_arn,
        )
        self._rejected.append((record, rejected))
        logger.warning(
            "record rejected",
            extra={
                "reason": reason,
                "shard": rejected.shard_id,
                "sequence": rejected.sequence_number,
            },
        )

    # ---- per batch -------------------------------------------------------------------------
    def finish(self) -> list[tuple[KinesisStreamRecord, BaseException]]:
        """Write incidents and publish alerts; return the records Lambda must redeliver."""
        failed: list[tuple[KinesisStreamRecord, BaseException]] = []
        work: dict[str, _Work] = {}
        for camera_id, batch in self._cameras.items():
            try:
                work[camera_id] = self._apply(camera_id, batch.detections)
            except UnapplicableError as exc:
                logger.error("camera records unapplicable", extra={"camera_id": camera_id})
                self.counts["processed"] -= len(batch.records)
                for record in batch.records:
                    self._reject(record, str(exc))
            except Exception as exc:
                logger.exception("camera update failed", extra={"camera_id": camera_id})
                failed += [(r, exc) for r in batch.records]
        failed += self.publish(work)
        failed += self._store_rejects(failed)
        self._emit_metrics(failed)
        return failed

    def _store_rejects(
        self, failed: list[tuple[KinesisStreamRecord, BaseException]]
    ) -> list[tuple[KinesisStreamRecord, BaseException]]:
        """Keep the rejected records that Lambda will not send again. Lambda redelivers a shard
        from its lowest failed record: rejects past that point come back, so storing them now
        would store them twice; they are handed back with the rest."""
        lowest: dict[str, int] = {}
        for record, _ in failed:
            shard, sequence = record.event_id.split(":", 1)[0], int(record.kinesis.sequence_number)
            lowest[shard] = min(lowest.get(shard, sequence), sequence)
        keep: list[tuple[KinesisStreamRecord, RejectedRecord]] = []
        later: list[tuple[KinesisStreamRecord, BaseException]] = []
        for record, rejected in self._rejected:
            limit = lowest.get(rejected.shard_id)
            if limit is not None and int(rejected.sequence_number) > limit:
                later.append((record, RedeliveryError("redelivered with its shard's failures")))
            else:
                keep.append((record, rejected))
        if not keep:
            return later
        try:
            self._adapters.rejects.keep([r for _, r in keep])
        except Exception as exc:
            logger.exception("rejected records could not be stored; redelivering them")
            return later + [(record, exc) for record, _ in keep]
        return later

    def _claim(self) -> Claim:
        return Claim(self._token, self._adapters.clock() + LEASE_SECONDS)

    def _load(self, camera_id: str, gone: set[str]) -> CameraState:
        state = self._adapters.store.load_state(camera_id)
        if not gone:
            return state
        kept = tuple(i for i in state.incidents if i.incident_id not in gone)
        return state.model_copy(update={"incidents": kept})

    def _recall(self, state: CameraState, detections: list[Detection]) -> dict[str, IncidentState]:
        """The table's incidents near frames older than what the state holds (late frames)."""
        window = self._settings.incident_window_seconds
        times = needs_recall(state, detections, window)
        if not times:
            return {}
        found = self._adapters.store.recall(state.camera_id, times, window)
        self.counts["recalled"] += len(found)
        return {i.incident_id: i for i in found}

    def _apply(self, camera_id: str, detections: list[Detection]) -> _Work:
        """Group and commit, regrouping on a conflict; each conflict cause has its own answer."""
        attempt = _Attempt()
        for number in range(MAX_COMMIT_ATTEMPTS):
            state = self._load(camera_id, attempt.gone)
            if number == 0:
                attempt.recalled = self._recall(state, detections)
            result = group(
                state,
                detections,
                window_seconds=self._settings.incident_window_seconds,
                min_detections=self._settings.min_detections,
                possible_action=self._settings.possible_match_action,
                recalled=[
                    i for i in attempt.recalled.values() if i.incident_id not in attempt.gone
                ],
            )
            store = self._adapters.store
            outstanding = store.outstanding(state.unconfirmed) if state.unconfirmed else []
            unsettled = [o for o in outstanding if not o.settled]
            if not result.changed:
                self.counts["skipped"] += result.skipped
                return _Work(outstanding=unsettled)
            committed, extended, updates = self._due_updates(
                _pruned(result.state, state.unconfirmed, outstanding), result.extended_alerted
            )
            try:
                store.commit(
                    state.version,
                    committed,
                    Changes(
                        new_alerts=result.newly_alerting,
                        extended=extended,
                        absorbed=result.absorbed,
                        locations={camera_id: self._location(camera_id)},
                    ),
                    self._claim(),
                )
            except (CommitConflictError, IncidentExistsError, IncidentMissingError) as exc:
                self._resolve(exc, attempt)
                continue
            except CommitRejectedError as exc:
                raise UnapplicableError(str(exc)) from exc
            self.counts["skipped"] += result.skipped
            self.counts["opened"] += len(result.opened)
            self.counts["suppressed"] += result.suppressed
            self.counts["merged"] += len(result.merges)
            return _Work(
                held_alerts=list(result.newly_alerting),
                held_merges=[i for i, _ in result.absorbed],
                outstanding=unsettled,
                escalated=list(result.escalated),
                updates=updates,
            )
        raise RedeliveryError(
            f"camera {camera_id}: state kept changing under {MAX_COMMIT_ATTEMPTS} attempts"
        )

    def _due_updates(
        self, state: CameraState, extended: list[IncidentState]
    ) -> tuple[CameraState, list[IncidentState], list[IncidentState]]:
        """The state and extended incidents to commit, and the incidents whose ``Incident
        Updated`` is due: alerted, alert settled (not in ``unconfirmed``: an update never goes
        out before its alert), none published in the last interval. The publish time is
        stamped on the incident, so the commit written anyway keeps the throttle (no extra
        read or write). A time ahead of the clock (another container's) counts as long ago."""
        interval = self._settings.update_interval_seconds
        now = self._adapters.clock()
        waiting = set(state.unconfirmed)
        due = {
            incident.incident_id: incident.model_copy(update={"update_published_at": now})
            for incident in extended
            if incident.incident_id not in waiting
            and not 0 <= now - incident.update_published_at < interval
        }
        if not due:
            return state, extended, []
        incidents = tuple(due.get(i.incident_id, i) for i in state.incidents)
        return (
            state.model_copy(update={"incidents": incidents}),
            [due.get(i.incident_id, i) for i in extended],
            list(due.values()),
        )

    def _resolve(self, exc: Exception, attempt: _Attempt) -> None:
        """Prepare the regroup after a conditional failure, by its cause."""
        if isinstance(exc, CommitConflictError):  # another invocation wrote first
            self.counts["conflicts"] += 1
        elif isinstance(exc, IncidentMissingError):  # erased under us: never recreated
            attempt.gone.update(exc.incident_ids)
        elif isinstance(exc, IncidentExistsError):
            # Its first frame was seen before and its item outlived the state: bring the item
            # back into the grouping (the frame is then a duplicate, or extends it).
            if attempt.exists.issuperset(exc.incident_ids):
                raise UnapplicableError(f"incident items exist and cannot be matched: {exc}")
            attempt.exists.update(exc.incident_ids)
            for incident_id in exc.incident_ids:
                found = self._adapters.store.get_incident(incident_id)
                if found is not None:
                    attempt.recalled[found.incident_id] = found

    def _location(self, camera_id: str) -> CameraLocation | None:
        """The registry's view of the camera; an alert never waits on it or fails for it."""
        try:
            return self._adapters.directory.location(camera_id)
        except Exception:
            logger.warning("camera registry unavailable", extra={"camera_id": camera_id})
            return None

    # ---- publishing: exactly one invocation per alert ---------------------------------------
    def publish(self, work: dict[str, _Work]) -> list[tuple[KinesisStreamRecord, BaseException]]:
        """Claim, publish, settle; ``work`` by camera. Returns the records of the cameras whose
        events could not be published (Lambda must redeliver them)."""
        tasks: list[_Task] = []
        updates: list[_Task] = []  # after the alerts: the first PutEvents carries alerts first
        for camera_id, found in work.items():
            tasks += [_Task("alert", i, camera_id) for i in found.held_alerts]
            tasks += [_Task("escalation", i, camera_id) for i in found.escalated]
            tasks += self._tasks_of(camera_id, found.outstanding)
            if found.held_merges:  # what their alerts did decides what the merge notices do
                ids = [i.incident_id for i in found.held_merges]
                tasks += self._merge_tasks(camera_id, self._adapters.store.outstanding(ids))
            updates += [_Task("update", i, camera_id) for i in found.updates]
        tasks += updates
        if not tasks:
            return []
        failed_cameras = self._deliver(tasks)
        failed: list[tuple[KinesisStreamRecord, BaseException]] = []
        for camera_id in failed_cameras:
            error = RedeliveryError(f"alert publish failed for camera {camera_id}")
            failed += [(r, error) for r in self._cameras.get(camera_id, _CameraBatch()).records]
        return failed

    def _held(self, item: Outstanding, kind: Kind) -> Outstanding | None:
        """The item with this invocation's claim on ``kind``, or None if another holds it."""
        state, token, until = item.state_of(kind)
        if state == "claimed" and token == self._token:
            return item
        now = self._adapters.clock()
        if state == "pending" or (state == "claimed" and until < now):
            return self._adapters.store.claim(item.incident.incident_id, kind, self._claim(), now)
        return None

    def _tasks_of(self, camera_id: str, items: list[Outstanding]) -> list[_Task]:
        tasks: list[_Task] = []
        merges: list[Outstanding] = []
        store = self._adapters.store
        for item in items:
            if item.alert_state in ("pending", "claimed"):
                held = self._held(item, "alert")
                if held is None:
                    continue
                if held.status != "merged":
                    tasks.append(_Task("alert", held.incident, camera_id))
                    continue
                # absorbed before its alert went out: it never alerts
                store.settle(
                    held.incident, "alert", self._token, "cancelled", at=self._adapters.clock()
                )
                merges.append(replace(held, alert_state="cancelled"))
            elif item.status == "merged" and item.merge_state in ("pending", "claimed"):
                merges.append(item)
        return tasks + self._merge_tasks(camera_id, merges)

    def _merge_tasks(self, camera_id: str, items: list[Outstanding]) -> list[_Task]:
        """A merge notice goes out only for an incident whose alert went out."""
        tasks: list[_Task] = []
        store = self._adapters.store
        now = self._adapters.clock()
        for item in items:
            held = self._held(item, "merge")
            if held is None:
                continue
            if held.alert_state == "sent":
                survivor = store.get_incident(held.merged_into or "")
                target = survivor.incident_id if survivor else (held.merged_into or "")
                self._survivors[held.incident.incident_id] = survivor or held.incident
                tasks.append(_Task("merge", held.incident, camera_id, merged_into=target))
            elif held.alert_state == "cancelled":
                store.settle(held.incident, "merge", self._token, "cancelled", at=now)
            elif held.alert_state == "pending":
                alert = self._held(held, "alert")
                if alert is not None:
                    store.settle(held.incident, "alert", self._token, "cancelled", at=now)
                    store.settle(held.incident, "merge", self._token, "cancelled", at=now)
                else:
                    store.release(held.incident.incident_id, "merge", self._token)
            else:  # its alert is being published by another invocation: the sweeper follows up
                store.release(held.incident.incident_id, "merge", self._token)
        return tasks

    def _event(self, task: _Task, now: float) -> tuple[BusEvent, str]:
        if task.kind == "update":
            return BusEvent(
                UPDATED_DETAIL_TYPE,
                self._update_detail(task.incident, now),
                task.incident.incident_id,
            ), ""
        if task.kind != "merge":
            detail = self._alert_detail(task.incident, now)
            clip = (
                "available"
                if detail.clip
                else "unavailable"
                if detail.clip_unavailable_reason
                else "signed-link"  # no HLS URL asked for: the notifiers' signed link is the clip
            )
            return BusEvent(ALERT_DETAIL_TYPE, detail, key=task.incident.incident_id), clip
        survivor = self._survivors.get(task.incident.incident_id, task.incident)
        merged = IncidentMergedDetail(
            incident_id=task.incident.incident_id,
            merged_into=task.merged_into or survivor.incident_id,
            camera_id=task.incident.camera_id,
            first_seen=to_datetime(survivor.first_seen),
            last_seen=to_datetime(survivor.last_seen),
            detections=survivor.detections,
            test=is_canary_camera(task.incident.camera_id),
        )
        return BusEvent(MERGED_DETAIL_TYPE, merged, key=task.incident.incident_id), ""

    def _deliver(self, tasks: list[_Task]) -> set[str]:
        """Publish the claimed events, then settle them; returns cameras with failures."""
        now = self._adapters.clock()
        store = self._adapters.store
        built = [(task, *self._event(task, now)) for task in tasks]
        failures = self._adapters.publisher.publish([event for _, event, _ in built])
        failed_keys = {(f.event.detail_type, f.event.key) for f in failures}
        failed_cameras: set[str] = set()
        for failure in failures:
            if failure.event.detail_type == UPDATED_DETAIL_TYPE:
                self.counts["updates_lost"] += 1  # the ticker reconciles within a minute
                logger.warning(
                    "incident update not published",
                    extra={"incident_id": failure.event.key, "reason": failure.reason},
                )
                continue
            self.failed_publishes += 1
            logger.error(
                "event not published",
                extra={"incident_id": failure.event.key, "reason": failure.reason},
            )
        for task, event, clip in built:
            incident_id = task.incident.incident_id
            if task.kind == "update":  # no claim to settle or release, nothing to redeliver
                if (event.detail_type, event.key) not in failed_keys:
                    self.counts["updates"] += 1
                continue
            if (event.detail_type, event.key) in failed_keys:
                if task.kind == "escalation":  # nothing to redeliver: the change is committed
                    continue
                failed_cameras.add(task.camera_id)
                try:  # hand the claim back so the redelivery can publish at once
                    store.release(incident_id, task.kind, self._token)
                except Exception:
                    logger.warning("claim not released", extra={"incident_id": incident_id})
                continue
            self.counts["merge_notices" if task.kind == "merge" else "alerts"] += 1
            logger.set_correlation_id(incident_id)
            logger.info(
                "merge published" if task.kind == "merge" else "alert published",
                extra={
                    "incident_id": incident_id,
                    "camera_id": task.incident.camera_id,
                    "detections": task.incident.detections,
                    "clip": clip,
                },
            )
            if task.kind != "escalation":
                self._settle_sent(task, now, clip)
        logger.set_correlation_id(None)
        return failed_cameras

    def _settle_sent(self, task: _Task, now: float, clip: str) -> None:
        """Mark it sent, retried here: if it stays unmarked the claim's lease runs out and the
        sweeper publishes again (the one at-least-once case; consumers dedupe on incidentId)."""
        incident_id = task.incident.incident_id
        kind: Kind = "merge" if task.kind == "merge" else "alert"
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                if not self._adapters.store.settle(
                    task.incident, kind, self._token, "sent", at=now, clip_status=clip
                ):
                    logger.warning("claim lost before settling", extra={"incident_id": incident_id})
                return
            except Exception:
                if attempt == SETTLE_ATTEMPTS:
                    logger.exception(
                        "published but not marked sent", extra={"incident_id": incident_id}
                    )

    def _alert_detail(self, incident: IncidentState, now: float) -> AlertDetail:
        settings = self._settings
        clip, reason = self._hls_clip(incident, now) if settings.alert_hls_url else (None, None)
        band = incident.band(settings.min_detections)
        candidate = incident.band_tally.candidate(settings.min_detections)
        return AlertDetail(
            incident_id=incident.incident_id,
            camera_id=incident.camera_id,
            stream_arn=incident.stream_arn,
            first_seen=to_datetime(incident.first_seen),
            last_seen=to_datetime(incident.last_seen),
            detections=incident.detections,
            best_face=public_best_face(incident),
            closest_employee=public_closest(incident),
            band="possible" if band is Band.POSSIBLE else "unknown",
            hint=hint_text(candidate) if candidate else None,
            page=pages(band, settings.possible_match_action),
            clip=clip,
            clip_unavailable_reason=reason,
            location=self._location(incident.camera_id),
            test=is_canary_camera(incident.camera_id),
        )

    def _update_detail(self, incident: IncidentState, now: float) -> IncidentUpdatedDetail:
        return IncidentUpdatedDetail(
            incident_id=incident.incident_id,
            camera_id=incident.camera_id,
            first_seen=to_datetime(incident.first_seen),
            last_seen=to_datetime(incident.last_seen),
            detections=incident.detections,
            best_face=public_best_face(incident),
            closest_employee=public_closest(incident),
            updated_at=to_datetime(now),
            test=is_canary_camera(incident.camera_id),
        )

    def _hls_clip(self, incident: IncidentState, now: float) -> tuple[Clip | None, str | None]:
        """A LIVE_REPLAY URL (ALERT_HLS_URL; it holds one of the stream's HLS sessions until it
        expires), or None and why not."""
        settings = self._settings
        try:
            link = self._adapters.clips.hls_url(
                incident.stream_arn,
                incident.first_seen - settings.clip_pre_roll_seconds,
                None,
                mode="LIVE_REPLAY",
                expires_in=settings.clip_url_ttl_seconds,
                now=now,
            )
        except Exception as exc:
            reason = _error_code(exc)
            self.counts["enrichment_failures"] += 1
            logger.warning(
                "clip unavailable", extra={"incident_id": incident.incident_id, "reason": reason}
            )
            return None, reason
        return Clip(url=link.url, expires_at=link.expires_at, start=link.start), None

    def _emit_metrics(self, failed: list[tuple[KinesisStreamRecord, BaseException]]) -> None:
        counts = self.counts
        retried = len({r.kinesis.sequence_number for r, _ in failed})
        counts["retried"] = retried
        names = {
            "records": "RecordsIn",
            "processed": "RecordsProcessed",
            "rejected": "RecordsRejected",
            "retried": "RecordsRetried",
            "faces_known": "FacesKnown",
            "faces_unknown": "FacesUnknown",
            "faces_ignored": "FacesIgnored",
            "opened": "IncidentsOpened",
            "alerts": "AlertsPublished",
            "suppressed": "DetectionsSuppressed",
            "enrichment_failures": "ClipEnrichmentFailures",
            "clock_corrected": "FramesClockCorrected",
            "merged": "IncidentsMerged",
            "merge_notices": "MergeNoticesPublished",
            "updates": "IncidentUpdatesPublished",
            "updates_lost": "IncidentUpdatesLost",
        }
        sink = self._adapters.metrics
        for key, name in names.items():
            sink.add_metric(name=name, unit=MetricUnit.Count, value=counts[key])
        logger.info(
            "batch done",
            extra={
                "records": counts["records"],
                "processed": counts["processed"],
                "rejected": counts["rejected"],
                "retried": retried,
                "alerts": counts["alerts"],
                "updates": counts["updates"],
                "incidents_opened": counts["opened"],
            },
        )


SWEEP_AFTER_SECONDS = 120.0


def sweep_pending_alerts(
    settings: FaceEventsSettings, adapters: Adapters, older_than: float = SWEEP_AFTER_SECONDS
) -> int:
    """Publish the alerts and merge notices that stayed outstanding (their records failed past
    Lambda's retries, their camera went quiet before a redelivery, or a claim's lease ran out).
    Runs on a schedule; returns how many events it published. Claims keep it from racing
    face_events into a second publish."""
    ids = adapters.store.pending_since(adapters.clock() - older_than)
    if not ids:
        return 0
    items = [o for o in adapters.store.outstanding(ids) if not o.settled]
    batch = FaceEventsBatch(settings, adapters)
    failed = batch.publish({"sweep": _Work(outstanding=items)})  # camera-less: no records
    published = batch.counts["alerts"] + batch.counts["merge_notices"]
    logger.info("pending alerts swept", extra={"pending": len(ids), "published": published})
    if failed or batch.failed_publishes:
        raise RedeliveryError(f"{batch.failed_publishes} pending events still unpublished")
    return published


def _error_code(exc: Exception) -> str:
    """AWS's error code for service errors (e.g. NoDataRetentionException), else the class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


def run_batch(
    event: dict[str, object],
    context: object,
    settings: FaceEventsSettings,
    adapters: Adapters,
    processor: BatchProcessor,
) -> PartialItemFailureResponse:
    """Drive one Lambda invocation: Powertools does the per-record loop and the partial response."""
    batch = FaceEventsBatch(settings, adapters)
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a Kinesis event: no Records list")
    with processor(records=records, handler=batch.add, lambda_context=context):  # type: ignore[arg-type]
        processor.process()
        seen: set[str] = set()
        for record, exc in batch.finish():
            if record.kinesis.sequence_number not in seen:
                seen.add(record.kinesis.sequence_number)
                processor.failure_handler(record, (type(exc), exc, exc.__traceback__))
    return processor.response()
