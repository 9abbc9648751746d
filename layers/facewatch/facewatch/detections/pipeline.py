"""The face_events pipeline: one Kinesis batch of processor records -> incidents -> alerts.

Per record (called by Powertools' BatchProcessor): decode, validate, classify every face, keep
the frame's best unknown face as a detection of its camera. Malformed records are rejected with
a reason and kept in the rejected-records queue; they never fail their neighbours.

Per batch (``finish``): for each camera with detections, one read of its state, the pure
grouping of ``incidents``, one conditional write; then clip links and one PutEvents per ten
alerts. What fails (a camera's write, an alert's publish) fails only that camera's records, so
Lambda redelivers them; the state's watermarks make the redelivery change nothing twice.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from pydantic import ValidationError

from facewatch.alerts.bus import BusEvent, EventPublisher
from facewatch.alerts.event import (
    ALERT_DETAIL_TYPE,
    AlertDetail,
    BestFace,
    CameraLocation,
    Clip,
    ClosestEmployee,
    FaceBox,
    FaceQualityOut,
)
from facewatch.clips.hls import ClipProvider
from facewatch.detections.bands import Band, hint_text, pages
from facewatch.detections.classification import ClassifiedFace, FaceClass, classify
from facewatch.detections.incidents import CameraState, Detection, IncidentState, group
from facewatch.detections.records import ProcessorRecord, is_canary_camera
from facewatch.detections.rejects import RejectedRecord, RejectSink, decode_base64, reason_for
from facewatch.detections.store import CommitConflictError, IncidentStore
from facewatch.fleet.profiles import PrivacyProfile
from facewatch.observability import MetricUnit, logger
from facewatch.observability import metrics as default_metrics
from facewatch.settings import FaceEventsSettings
from facewatch.timestamps import to_datetime

MAX_COMMIT_ATTEMPTS = 8


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


class FaceEventsBatch:
    def __init__(self, settings: FaceEventsSettings, adapters: Adapters) -> None:
        self._settings = settings
        self._adapters = adapters
        self._cameras: dict[str, _CameraBatch] = defaultdict(_CameraBatch)
        self._rejected: list[tuple[KinesisStreamRecord, RejectedRecord]] = []
        self.counts: Counter[str] = Counter()

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
                frame_time=frame.frame_time,
                frame_key=frame.frame_key,
                shard_id=record.event_id.split(":", 1)[0],
                sequence_number=kinesis.sequence_number,
                face=best,
                closest=closest,
                band=band,
            )
        )

    def _recognition_off(self, camera_id: str) -> bool:
        profile = self._adapters.privacy(camera_id) if self._adapters.privacy else None
        return profile is not None and not profile.recognition

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
        alerts: dict[str, list[IncidentState]] = {}
        for camera_id, batch in self._cameras.items():
            try:
                alerts[camera_id] = self._apply(camera_id, batch.detections)
            except Exception as exc:
                logger.exception("camera update failed", extra={"camera_id": camera_id})
                failed += [(r, exc) for r in batch.records]
        failed += self.publish_alerts(alerts)
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

    def _apply(self, camera_id: str, detections: list[Detection]) -> list[IncidentState]:
        store = self._adapters.store
        for _ in range(MAX_COMMIT_ATTEMPTS):
            state = store.load_state(camera_id)
            result = group(
                state,
                detections,
                window_seconds=self._settings.incident_window_seconds,
                min_detections=self._settings.min_detections,
                possible_action=self._settings.possible_match_action,
            )
            pending = self._pending(state)
            self.counts["skipped"] += result.skipped
            if not result.changed:
                return pending
            new_state = result.state
            confirmed = set(state.unconfirmed) - {i.incident_id for i in pending}
            if confirmed:
                new_state = new_state.model_copy(
                    update={
                        "unconfirmed": tuple(i for i in new_state.unconfirmed if i not in confirmed)
                    }
                )
            locations = {camera_id: self._location(camera_id)}
            try:
                store.commit(
                    state.version,
                    new_state,
                    result.newly_alerting,
                    result.extended_alerted,
                    locations,
                )
            except CommitConflictError:
                self.counts["skipped"] -= result.skipped
                self.counts["conflicts"] += 1
                continue
            self.counts["opened"] += len(result.opened)
            self.counts["suppressed"] += result.suppressed
            # An escalation is published like an alert (its SMS was never sent: the hint was
            # not paged); it is not retried past this batch if the publish fails.
            return pending + result.newly_alerting + result.escalated
        raise RedeliveryError(
            f"camera {camera_id}: state kept changing under {MAX_COMMIT_ATTEMPTS} attempts"
        )

    def _location(self, camera_id: str) -> CameraLocation | None:
        """The registry's view of the camera; an alert never waits on it or fails for it."""
        try:
            return self._adapters.directory.location(camera_id)
        except Exception:
            logger.warning("camera registry unavailable", extra={"camera_id": camera_id})
            return None

    def _pending(self, state: CameraState) -> list[IncidentState]:
        if not state.unconfirmed:
            return []
        return self._adapters.store.pending_alerts(state.unconfirmed).pending

    def publish_alerts(
        self, alerts: dict[str, list[IncidentState]]
    ) -> list[tuple[KinesisStreamRecord, BaseException]]:
        """Clip links, PutEvents, mark sent; ``alerts`` by camera. Returns the records of the
        cameras whose alerts could not be published (Lambda must redeliver them)."""
        incidents = {i.incident_id: i for found in alerts.values() for i in found}
        if not incidents:
            return []
        now = self._adapters.clock()
        events: list[BusEvent] = []
        clip_status: dict[str, str] = {}
        for incident in incidents.values():
            detail = self._alert_detail(incident, now)
            clip_status[incident.incident_id] = (
                "available"
                if detail.clip
                else "unavailable"
                if detail.clip_unavailable_reason
                else "signed-link"  # no HLS URL asked for: the notifiers' signed link is the clip
            )
            events.append(BusEvent(ALERT_DETAIL_TYPE, detail, key=incident.incident_id))
        failures = self._adapters.publisher.publish(events)
        failed_ids = {f.event.key for f in failures}
        failed: list[tuple[KinesisStreamRecord, BaseException]] = []
        for failure in failures:
            logger.error(
                "alert not published",
                extra={"incident_id": failure.event.key, "reason": failure.reason},
            )
        for camera_id, found in alerts.items():
            if any(i.incident_id in failed_ids for i in found):
                error = RedeliveryError(f"alert publish failed for camera {camera_id}")
                failed += [(r, error) for r in self._cameras[camera_id].records]
        for incident_id, incident in incidents.items():
            if incident_id in failed_ids:
                continue
            self.counts["alerts"] += 1
            logger.set_correlation_id(incident_id)
            logger.info(
                "alert published",
                extra={
                    "incident_id": incident_id,
                    "camera_id": incident.camera_id,
                    "detections": incident.detections,
                    "clip": clip_status[incident_id],
                },
            )
            try:
                self._adapters.store.mark_sent(incident, now, clip_status[incident_id])
            except Exception:
                logger.exception(
                    "alert published but not marked sent", extra={"incident_id": incident_id}
                )
        logger.set_correlation_id(None)
        return failed

    def _alert_detail(self, incident: IncidentState, now: float) -> AlertDetail:
        settings = self._settings
        clip, reason = self._hls_clip(incident, now) if settings.alert_hls_url else (None, None)
        face = incident.best_face
        band = incident.band(settings.min_detections)
        candidate = incident.band_tally.candidate(settings.min_detections)
        return AlertDetail(
            incident_id=incident.incident_id,
            camera_id=incident.camera_id,
            stream_arn=incident.stream_arn,
            first_seen=to_datetime(incident.first_seen),
            last_seen=to_datetime(incident.last_seen),
            detections=incident.detections,
            best_face=BestFace(
                bounding_box=FaceBox(
                    width=face.width, height=face.height, left=face.left, top=face.top
                ),
                confidence=face.confidence,
                quality=FaceQualityOut(brightness=face.brightness, sharpness=face.sharpness),
            ),
            closest_employee=(
                ClosestEmployee(
                    employee_id=incident.closest.employee_id, similarity=incident.closest.similarity
                )
                if incident.closest
                else None
            ),
            band="possible" if band is Band.POSSIBLE else "unknown",
            hint=hint_text(candidate) if candidate else None,
            page=pages(band, settings.possible_match_action),
            clip=clip,
            clip_unavailable_reason=reason,
            location=self._location(incident.camera_id),
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
                "incidents_opened": counts["opened"],
            },
        )


SWEEP_AFTER_SECONDS = 120.0


def sweep_pending_alerts(
    settings: FaceEventsSettings, adapters: Adapters, older_than: float = SWEEP_AFTER_SECONDS
) -> int:
    """Publish the alerts that stayed pending (their records failed past Lambda's retries, or
    their camera went quiet before a redelivery). Runs on a schedule; returns how many were
    published. Notifiers are idempotent, so a race with face_events costs nothing but a no-op."""
    pending = adapters.store.pending_since(adapters.clock() - older_than)
    if not pending:
        return 0
    batch = FaceEventsBatch(settings, adapters)
    failed = batch.publish_alerts({"sweep": pending})  # a camera-less batch: no records
    published = batch.counts["alerts"]
    logger.info("pending alerts swept", extra={"pending": len(pending), "published": published})
    if failed or published < len(pending):
        raise RedeliveryError(f"{len(pending) - published} pending alerts still unpublished")
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
