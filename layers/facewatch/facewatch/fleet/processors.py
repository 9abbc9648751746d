"""Rekognition face-search stream processors: the adapter the watchdog and processor control use,
and the ``Custom::ProcessorControl`` resource (CloudFormation creates processors but never starts
them, and cannot delete a running one).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facewatch.fleet.watchdog import ProcessorView

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
        for attempt in range(self._attempts):
            try:
                self._rek.create_stream_processor(
                    Name=name, **spec, **({"Tags": tags} if tags else {})
                )
                break
            except self._rek.exceptions.ResourceInUseException:
                if attempt == self._attempts - 1:
                    raise
                self._sleep(self._delay)
        self.start(name)


# ---- Custom::ProcessorControl ------------------------------------------------------------------
class ControlProperties(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ProcessorName: str = Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")
    Start: Literal["true", "false"] = "true"


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


def control_processor(
    request: CustomResourceRequest, processors: StreamProcessors, wait_seconds: float
) -> ControlOutcome:
    """Start on create (if asked), stop-and-wait on delete, both when the name changes."""
    physical = request.PhysicalResourceId or f"{request.LogicalResourceId}-{request.RequestId}"
    try:
        props = ControlProperties.model_validate(request.ResourceProperties)
    except ValueError as exc:
        if request.RequestType == "Delete":  # never block a delete on bad properties
            return ControlOutcome(status="SUCCESS", reason="nothing to stop", physical_id=physical)
        return ControlOutcome(status="FAILED", reason=str(exc)[:500], physical_id=physical)
    name = props.ProcessorName
    try:
        if request.RequestType == "Delete":
            return _stop_and_wait(processors, name, wait_seconds, physical)
        if request.RequestType == "Update" and request.OldResourceProperties:
            old = request.OldResourceProperties.get("ProcessorName")
            if old and old != name:
                # The old processor is deleted after this update: it must be stopped first.
                stopped = _stop_and_wait(processors, str(old), wait_seconds, physical)
                if stopped.status == "FAILED":
                    return stopped
        if props.Start == "true":
            processors.start(name)
        else:
            processors.stop(name)
        status = processors.describe(name).status or "MISSING"
        return ControlOutcome(
            status="SUCCESS",
            reason=f"{name} {status}",
            physical_id=physical,
            data={"Status": status},
        )
    except Exception as exc:  # reported to CloudFormation, which rolls back
        return ControlOutcome(
            status="FAILED", reason=f"{type(exc).__name__}: {exc}"[:500], physical_id=physical
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
