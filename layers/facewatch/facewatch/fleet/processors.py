"""Rekognition face-search stream processors: the adapter the watchdog and processor control use,
and the ``Custom::StreamProcessor`` resource of the camera stacks (creates, starts, replaces
old-first, stops and deletes the processor: see below).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from facewatch.fleet.health import (
    CameraHealth,
    CameraHealthChanged,
    RecognitionState,
    VideoState,
    overall,
)
from facewatch.fleet.watchdog import HealthPublisher, HealthStore, ProcessorView
from facewatch.timestamps import iso

# Fields of DescribeStreamProcessor that CreateStreamProcessor takes back unchanged.
_CREATE_FIELDS = (
    "Input",
    "Output",
    "RoleArn",
    "Settings",
    "NotificationChannel",
    "KmsKeyId",
    "RegionsOfInterest",
    "DataSharingPreference",
)


class ProcessorGoneError(Exception):
    """The processor does not exist."""


class StreamProcessors:
    """Start, stop, describe and recreate processors by name (retries: the client's config)."""

    def __init__(
        self,
        rekognition: Any,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        name_reuse_attempts: int = 6,
        name_reuse_delay: float = 5.0,
    ) -> None:
        self._rek = rekognition
        self._sleep = sleep
        self._clock = clock
        self._attempts = name_reuse_attempts
        self._delay = name_reuse_delay

    def describe(self, name: str) -> ProcessorView:
        try:
            found = self._rek.describe_stream_processor(Name=name)
        except self._rek.exceptions.ResourceNotFoundException:
            return ProcessorView(name=name, status=None)
        return ProcessorView(
            name=name, status=found.get("Status"), status_message=found.get("StatusMessage")
        )

    def start(self, name: str) -> None:
        # ResourceInUse: already starting or running, which is what we wanted.
        with contextlib.suppress(self._rek.exceptions.ResourceInUseException):
            self._rek.start_stream_processor(Name=name)

    def stop(self, name: str) -> None:
        try:
            self._rek.stop_stream_processor(Name=name)
        except self._rek.exceptions.ResourceNotFoundException:
            pass  # nothing to stop
        except self._rek.exceptions.ResourceInUseException:
            pass  # already stopping or stopped

    def wait_until(self, name: str, wanted: set[str | None], timeout: float) -> str | None:
        """Poll until the status is in ``wanted`` (None = gone); the last status on timeout."""
        deadline = self._clock() + timeout
        delay = 2.0
        while True:
            status = self.describe(name).status
            if status in wanted or self._clock() >= deadline:
                return status
            self._sleep(delay)
            delay = min(delay * 2, 15.0)

    def recreate(self, name: str) -> None:
        """Delete and create again with the same settings and tags, then start.

        For a processor stuck in STARTING. The name may not be reusable for a few seconds after
        the delete, so the create is retried on ResourceInUseException.
        """
        try:
            found = self._rek.describe_stream_processor(Name=name)
        except self._rek.exceptions.ResourceNotFoundException as exc:
            raise ProcessorGoneError(name) from exc
        spec = {k: found[k] for k in _CREATE_FIELDS if found.get(k)}
        tags = self._rek.list_tags_for_resource(ResourceArn=found["StreamProcessorArn"]).get(
            "Tags", {}
        )
        if found.get("Status") in {"RUNNING", "STARTING"}:
            self.stop(name)
            self.wait_until(name, {"STOPPED", "FAILED", None}, timeout=60)
        self._rek.delete_stream_processor(Name=name)
        self.create(name, spec, tags)
        self.start(name)

    def create(self, name: str, spec: dict[str, Any], tags: dict[str, str]) -> None:
        """CreateStreamProcessor, retried on ResourceInUseException: a just-deleted processor's
        name, input and output stay taken for a few seconds."""
        for attempt in range(self._attempts):
            try:
                self._rek.create_stream_processor(
                    Name=name, **spec, **({"Tags": tags} if tags else {})
                )
                return
            except self._rek.exceptions.ResourceInUseException:
                if attempt == self._attempts - 1:
                    raise
                self._sleep(self._delay)

    def delete(self, name: str) -> None:
        """DeleteStreamProcessor of a stopped processor; a missing one is already deleted."""
        with contextlib.suppress(self._rek.exceptions.ResourceNotFoundException):
            self._rek.delete_stream_processor(Name=name)


# ---- Custom::StreamProcessor --------------------------------------------------------------------
# The camera stack's processor is a custom resource, not AWS::Rekognition::StreamProcessor:
# CloudFormation replaces that type by creating the new processor before deleting the old one,
# on the same KVS input and Kinesis output, and Rekognition allows one processor per input and
# per output stream. Here the old one is stopped and deleted first (the camera is briefly
# unwatched, and a `Camera Health Changed` event says so), then the new one is created and
# started. The physical id is the processor name: a new name makes CloudFormation send a Delete
# for the old one afterwards, which finds it gone.
class ProcessorProperties(BaseModel):
    """The resource's properties (CloudFormation sends every value as a string)."""

    model_config = ConfigDict(extra="ignore")
    ProcessorName: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")
    CameraId: str = Field(min_length=1, max_length=128)
    RoleArn: str = Field(min_length=20)
    VideoStreamArn: str = Field(min_length=20)
    DataStreamArn: str = Field(min_length=20)
    CollectionId: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,255}$")
    FaceMatchThreshold: float = Field(ge=0, le=100)
    Start: Literal["true", "false"] = "true"

    def spec(self) -> dict[str, Any]:
        """CreateStreamProcessor's arguments besides Name and Tags."""
        return {
            "Input": {"KinesisVideoStream": {"Arn": self.VideoStreamArn}},
            "Output": {"KinesisDataStream": {"Arn": self.DataStreamArn}},
            "RoleArn": self.RoleArn,
            "Settings": {
                "FaceSearch": {
                    "CollectionId": self.CollectionId,
                    "FaceMatchThreshold": self.FaceMatchThreshold,
                }
            },
            "DataSharingPreference": {"OptIn": False},
        }

    def tags(self) -> dict[str, str]:
        return {"facewatch:camera": self.CameraId}

    def replaces(self, old: ProcessorProperties) -> bool:
        """Any change but Start needs a new processor (Rekognition cannot update these)."""
        return self.model_dump(exclude={"Start"}) != old.model_dump(exclude={"Start"})


class CustomResourceRequest(BaseModel):
    """The CloudFormation custom resource request (the fields we use)."""

    model_config = ConfigDict(extra="ignore")
    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    PhysicalResourceId: str | None = None
    ResourceProperties: dict[str, Any]
    OldResourceProperties: dict[str, Any] | None = None


class ControlOutcome(BaseModel):
    status: Literal["SUCCESS", "FAILED"]
    reason: str = ""
    physical_id: str
    data: dict[str, str] = Field(default_factory=dict)


class ReplacementNotices(Protocol):
    """Tells operators the camera is unwatched while its processor is replaced, and again
    when the new one is started."""

    def unwatched(self, camera_id: str, reason: str) -> None: ...
    def restarted(self, camera_id: str, reason: str) -> None: ...


class NoNotices:
    def unwatched(self, camera_id: str, reason: str) -> None:
        return None

    def restarted(self, camera_id: str, reason: str) -> None:
        return None


class HealthNotices:
    """The notices as `Camera Health Changed` events (the ops Slack route gets them). The video
    state is the watchdog's last one: replacing a processor does not change the video."""

    def __init__(
        self,
        publisher: HealthPublisher,
        store: HealthStore | None = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = print,
    ) -> None:
        self._publisher = publisher
        self._store = store
        self._clock = clock
        self._log = log
        self._last: dict[str, CameraHealth] = {}

    def unwatched(self, camera_id: str, reason: str) -> None:
        self._send(camera_id, RecognitionState.RECREATING, reason)

    def restarted(self, camera_id: str, reason: str) -> None:
        self._send(camera_id, RecognitionState.STARTING, reason)

    def _send(self, camera_id: str, recognition: RecognitionState, reason: str) -> None:
        previous = self._last.get(camera_id)
        if previous is None and self._store is not None:
            stored = self._store.load([camera_id]).get(camera_id)
            previous = stored.health if stored else None
        video = previous.video if previous else VideoState.ONLINE
        current = CameraHealth(
            video=video,
            recognition=recognition,
            status=overall(video, recognition),
            reason=reason[:500],
        )
        event = CameraHealthChanged(
            camera_id=camera_id, changed_at=iso(self._clock()), previous=previous, current=current
        )
        if not all(self._publisher.publish([event])):
            self._log(f"Camera Health Changed for {camera_id} not published: {reason}")
        self._last[camera_id] = current


def control_processor(
    request: CustomResourceRequest,
    processors: StreamProcessors,
    wait_seconds: float,
    notices: ReplacementNotices | None = None,
) -> ControlOutcome:
    """Create+start; on a settings change stop, delete, create, start; stop+delete on delete."""
    notices = notices or NoNotices()
    fallback = request.PhysicalResourceId or f"{request.LogicalResourceId}-{request.RequestId}"
    try:
        props = ProcessorProperties.model_validate(request.ResourceProperties)
    except ValueError as exc:
        if request.RequestType == "Delete":  # never block a delete on bad properties
            return ControlOutcome(
                status="SUCCESS", reason="nothing to delete", physical_id=fallback
            )
        return ControlOutcome(status="FAILED", reason=str(exc)[:500], physical_id=fallback)
    try:
        return _carry_out(
            request, props, processors, wait_seconds, notices=notices, fallback=fallback
        )
    except Exception as exc:  # reported to CloudFormation, which rolls back
        physical = props.ProcessorName if request.RequestType == "Create" else fallback
        return ControlOutcome(
            status="FAILED", reason=f"{type(exc).__name__}: {exc}"[:500], physical_id=physical
        )


def _carry_out(
    request: CustomResourceRequest,
    props: ProcessorProperties,
    processors: StreamProcessors,
    wait_seconds: float,
    *,
    notices: ReplacementNotices,
    fallback: str,
) -> ControlOutcome:
    name = props.ProcessorName
    if request.RequestType == "Delete":
        gone = _stop_and_wait(processors, name, wait_seconds, fallback)
        if gone.status == "SUCCESS":
            processors.delete(name)
        return gone
    if request.RequestType == "Update" and request.OldResourceProperties:
        old = ProcessorProperties.model_validate(request.OldResourceProperties)
        if props.replaces(old):
            return _replace(processors, old, props, wait_seconds, notices)
        return _run_as_asked(processors, props, request.PhysicalResourceId or name)
    processors.create(name, props.spec(), props.tags())
    return _run_as_asked(processors, props, name)


def _replace(
    processors: StreamProcessors,
    old: ProcessorProperties,
    new: ProcessorProperties,
    wait_seconds: float,
    notices: ReplacementNotices,
) -> ControlOutcome:
    notices.unwatched(
        new.CameraId,
        f"face-search settings changed: processor {old.ProcessorName} is replaced by "
        f"{new.ProcessorName}; the camera is unwatched until the new one runs",
    )
    stopped = _stop_and_wait(processors, old.ProcessorName, wait_seconds, old.ProcessorName)
    if stopped.status == "FAILED":
        return stopped
    processors.delete(old.ProcessorName)
    processors.create(new.ProcessorName, new.spec(), new.tags())
    outcome = _run_as_asked(processors, new, new.ProcessorName)
    notices.restarted(
        new.CameraId, f"replacement processor {new.ProcessorName} {outcome.data['Status']}"
    )
    return outcome


def _run_as_asked(
    processors: StreamProcessors, props: ProcessorProperties, physical: str
) -> ControlOutcome:
    if props.Start == "true":
        processors.start(props.ProcessorName)
    else:
        processors.stop(props.ProcessorName)
    status = processors.describe(props.ProcessorName).status or "MISSING"
    return ControlOutcome(
        status="SUCCESS",
        reason=f"{props.ProcessorName} {status}",
        physical_id=physical,
        data={"Status": status, "ProcessorName": props.ProcessorName},
    )


def _stop_and_wait(
    processors: StreamProcessors, name: str, wait_seconds: float, physical: str
) -> ControlOutcome:
    processors.stop(name)
    status = processors.wait_until(name, {"STOPPED", "FAILED", None}, timeout=wait_seconds)
    if status in {"STOPPED", "FAILED", None}:
        return ControlOutcome(
            status="SUCCESS", reason=f"{name} {status or 'gone'}", physical_id=physical
        )
    return ControlOutcome(
        status="FAILED",
        reason=f"{name} still {status} after {wait_seconds:.0f}s",
        physical_id=physical,
    )


def send_response(
    request: CustomResourceRequest,
    outcome: ControlOutcome,
    opener: Callable[[urllib.request.Request], Any] = urllib.request.urlopen,
) -> None:
    """PUT the outcome to the pre-signed S3 URL CloudFormation waits on."""
    body = json.dumps(
        {
            "Status": outcome.status,
            "Reason": outcome.reason or outcome.status,
            "PhysicalResourceId": outcome.physical_id,
            "StackId": request.StackId,
            "RequestId": request.RequestId,
            "LogicalResourceId": request.LogicalResourceId,
            "NoEcho": False,
            "Data": outcome.data,
        }
    ).encode()
    if not request.ResponseURL.startswith("https://"):
        raise ValueError("ResponseURL must be https")
    put = urllib.request.Request(  # noqa: S310 - scheme checked above
        request.ResponseURL,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with opener(put) as response:
        response.read()
