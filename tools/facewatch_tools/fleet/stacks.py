"""Per-camera CloudFormation stacks: desired state from cameras.yaml, plan, idempotent apply.

CloudFormation is the engine (ordering, rollback, drift, deletes); this module only decides
which camera stacks to create, update, replace or delete, and waits for them. A stack records
the camera it belongs to, the main stack, and the SHA-256 of the template it was made from in
its tags, so a plan needs one DescribeStacks listing and no template downloads.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from facewatch.detections.bands import processor_threshold
from facewatch.fleet.inventory import Camera, Detector, Inventory
from facewatch_tools.template import ROOT

TAG_CAMERA = "facewatch:camera"
TAG_MAIN = "facewatch:main-stack"
TAG_TEMPLATE = "facewatch:template-sha256"
MAX_CAMERA_ID = 100  # camera-template.yaml's CameraId pattern: names derived from it fit limits
VIDEO_ONLY = "none"  # camera-template.yaml's Detector for a camera with recognition off
DEFAULT_TEMPLATE = ROOT / "camera-template.yaml"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # a failed create (ROLLBACK_COMPLETE) can only be deleted and redone
    DELETE = "delete"
    KEEP = "keep"  # not in cameras.yaml; deleted only with --prune
    WAIT = "wait"  # an operation is in progress; apply waits and plans again
    NONE = "none"
    INVALID = "invalid"


@dataclass(frozen=True)
class MainStack:
    """What camera stacks need from the deployed main stack."""

    name: str
    environment: str
    collection_id: str
    face_match_threshold: str  # the processors': max(80, PossibleMatchFloor) (bands.py)
    outputs: dict[str, str] = field(default_factory=dict)
    # Output keys that are exported: camera stacks import exports (Fn::ImportValue), and an
    # older main stack may have an output without its export.
    exported: frozenset[str] = frozenset()
    status: str = ""  # the main stack's StackStatus


@dataclass(frozen=True)
class DesiredStack:
    camera: Camera
    stack_name: str
    parameters: dict[str, str]
    tags: dict[str, str]

    @property
    def processor_name(self) -> str | None:
        name = self.parameters.get("ProcessorName")
        searches = self.parameters.get("Detector") == Detector.STREAM_PROCESSOR.value
        return name if searches else None


@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    parameters: dict[str, str]
    tags: dict[str, str]

    @property
    def camera_id(self) -> str:
        return self.tags.get(TAG_CAMERA, "")


@dataclass(frozen=True)
class Change:
    camera_id: str
    stack_name: str
    action: Action
    reasons: tuple[str, ...] = ()
    desired: DesiredStack | None = None
    detector: str = ""


@dataclass(frozen=True)
class Plan:
    changes: list[Change]

    def by_action(self, *actions: Action) -> list[Change]:
        return [c for c in self.changes if c.action in actions]

    @property
    def pending(self) -> bool:
        return bool(self.by_action(Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE))


def stack_name_for(main_stack: str, camera_id: str) -> str:
    """``<main>-cam-<camera>``; characters a stack name cannot hold become '-' plus a hash."""
    slug = re.sub(r"[^a-zA-Z0-9-]", "-", camera_id)
    name = f"{main_stack}-cam-{slug}"
    if slug != camera_id or len(name) > 128:
        digest = hashlib.sha256(camera_id.encode()).hexdigest()[:8]
        name = f"{name[: 128 - 9]}-{digest}"
    return name


def processor_name_for(main: MainStack, camera_id: str) -> str:
    """Name with a hash of the face-search settings: changing them replaces the processor
    (every property change does), and CloudFormation can only replace a named resource when
    the new one gets a new name."""
    settings = f"{main.collection_id}|{main.face_match_threshold}"
    digest = hashlib.sha256(settings.encode()).hexdigest()[:6]
    return f"facewatch-{main.environment}-{camera_id}-{digest}"


def template_digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def desired_stacks(
    inventory: Inventory, main: MainStack, template_body: str, retention_hours: int
) -> list[DesiredStack]:
    digest = template_digest(template_body)
    desired = []
    for camera in inventory.cameras:
        # A recognition-off site (privacy profile): the video stream only, no face search.
        searches = inventory.recognition_at(camera)
        params = {
            "MainStack": main.name,
            "Environment": main.environment,
            "CameraId": camera.id,
            "Detector": camera.detector.value if searches else VIDEO_ONLY,
            "RetentionHours": str(retention_hours),
            "CollectionId": main.collection_id,
            "FaceMatchThreshold": main.face_match_threshold,
            # Always "true": outside its hours the watchdog stops it within a minute, and a
            # time-dependent value would make every apply an update.
            "StartProcessor": "true",
            "ProcessorName": processor_name_for(main, camera.id)
            if searches and camera.detector is Detector.STREAM_PROCESSOR
            else "unused",
        }
        tags = {TAG_CAMERA: camera.id, TAG_MAIN: main.name, TAG_TEMPLATE: digest}
        desired.append(DesiredStack(camera, stack_name_for(main.name, camera.id), params, tags))
    return desired


class StackEngine(Protocol):
    def camera_stacks(self, main_stack: str) -> dict[str, StackState]: ...
    def create(self, stack: DesiredStack, body: str) -> None: ...
    def update(self, stack: DesiredStack, body: str) -> bool:
        """False when CloudFormation says there is nothing to update."""

    def delete(self, stack_name: str) -> None: ...
    def wait(self, stack_names: Sequence[str]) -> dict[str, str]:
        """Wait until no stack is in progress; final status per stack (DELETED if gone)."""


_THROTTLED = "THROTTLED_IN_PROGRESS"  # not a CloudFormation status: asked too often
_FAILED_CREATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"}


def plan(desired: Sequence[DesiredStack], current: dict[str, StackState], prune: bool) -> Plan:
    changes: list[Change] = []
    wanted = {d.camera.id for d in desired}
    for stack in desired:
        cam = stack.camera.id
        det = stack.parameters["Detector"]  # "none" at a recognition-off site
        if len(cam) > MAX_CAMERA_ID:
            changes.append(
                Change(
                    cam,
                    stack.stack_name,
                    Action.INVALID,
                    (f"camera id longer than {MAX_CAMERA_ID} characters",),
                    None,
                    det,
                )
            )
            continue
        state = current.get(cam)
        if state is None:
            changes.append(
                Change(cam, stack.stack_name, Action.CREATE, ("new camera",), stack, det)
            )
        elif state.status.endswith("_IN_PROGRESS"):
            changes.append(Change(cam, state.name, Action.WAIT, (state.status,), stack, det))
        elif state.status in _FAILED_CREATE:
            changes.append(Change(cam, state.name, Action.REPLACE, (state.status,), stack, det))
        else:
            reasons = _differences(stack, state)
            action = Action.UPDATE if reasons else Action.NONE
            changes.append(Change(cam, state.name, action, tuple(reasons), stack, det))
    for cam, state in sorted(current.items()):
        if cam in wanted:
            continue
        if state.status == "DELETE_IN_PROGRESS":
            changes.append(Change(cam, state.name, Action.WAIT, (state.status,)))
        elif prune:
            changes.append(Change(cam, state.name, Action.DELETE, ("not in cameras.yaml",)))
        else:
            changes.append(
                Change(cam, state.name, Action.KEEP, ("not in cameras.yaml; --prune deletes it",))
            )
    return Plan(changes)


def _differences(stack: DesiredStack, state: StackState) -> list[str]:
    reasons = [
        f"{key}: {state.parameters.get(key)!r} -> {value!r}"
        for key, value in sorted(stack.parameters.items())
        if state.parameters.get(key) != value
    ]
    if state.tags.get(TAG_TEMPLATE) != stack.tags[TAG_TEMPLATE]:
        reasons.append("camera template changed")
    if state.status == "UPDATE_ROLLBACK_COMPLETE" and not reasons:
        reasons.append("last update rolled back; retrying")
    return reasons


@dataclass
class ApplyResult:
    done: dict[str, str] = field(default_factory=dict)  # stack -> final status
    failed: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


_GOOD = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETED", "DELETE_COMPLETE"}


def apply(
    make_plan: Callable[[], Plan],
    engine: StackEngine,
    body: str,
    batch_size: int = 10,
    echo: Callable[[str], None] = print,
) -> ApplyResult:
    """Carry out the plan; safe to re-run after a partial failure (it plans again each time)."""
    current = make_plan()
    waiting = current.by_action(Action.WAIT)
    if waiting:
        echo(f"waiting for {len(waiting)} stack operation(s) in progress")
        engine.wait([c.stack_name for c in waiting])
        current = make_plan()
    result = ApplyResult(unchanged=len(current.by_action(Action.NONE)))
    replace = current.by_action(Action.REPLACE)
    if replace:
        for change in replace:
            echo(f"delete {change.stack_name} ({change.reasons[0]}) to create it again")
            engine.delete(change.stack_name)
        _collect(engine.wait([c.stack_name for c in replace]), result, transient=True)
    work = current.by_action(Action.CREATE, Action.REPLACE, Action.UPDATE, Action.DELETE)
    for batch in _batches(work, batch_size):
        started = []
        for change in batch:
            if change.action is Action.DELETE:
                echo(f"delete {change.stack_name}")
                engine.delete(change.stack_name)
            elif change.desired is not None and change.action is Action.UPDATE:
                echo(f"update {change.stack_name}")
                if not engine.update(change.desired, body):
                    result.unchanged += 1
                    continue
            elif change.desired is not None:
                echo(f"create {change.stack_name}")
                engine.create(change.desired, body)
            started.append(change.stack_name)
        _collect(engine.wait(started) if started else {}, result)
    return result


def _collect(statuses: dict[str, str], result: ApplyResult, transient: bool = False) -> None:
    for name, status in statuses.items():
        if status in _GOOD:
            if not transient:
                result.done[name] = status
        else:
            result.failed[name] = status


def _batches(items: Sequence[Change], size: int) -> Iterable[Sequence[Change]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


# ---- the CloudFormation engine ----------------------------------------------------------------
class CloudFormationEngine:
    """boto3 CloudFormation; throttling is retried by the client's config (adaptive mode) and,
    for the long waits, by this class's own polling with backoff."""

    def __init__(
        self,
        cloudformation: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 3600.0,
        first_delay: float = 5.0,
        max_delay: float = 30.0,
        echo: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self._cfn = cloudformation
        self._echo = echo  # progress while waiting: each stack's status as it changes
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._first = first_delay
        self._max = max_delay

    def camera_stacks(self, main_stack: str) -> dict[str, StackState]:
        found: dict[str, StackState] = {}
        for page in self._cfn.get_paginator("describe_stacks").paginate():
            for stack in page.get("Stacks", []):
                state = _state(stack)
                if state.tags.get(TAG_MAIN) == main_stack and state.camera_id:
                    found[state.camera_id] = state
        return found

    def create(self, stack: DesiredStack, body: str) -> None:
        self._cfn.create_stack(
            StackName=stack.stack_name,
            TemplateBody=body,
            Parameters=_parameters(stack),
            Tags=[{"Key": k, "Value": v} for k, v in stack.tags.items()],
            Capabilities=["CAPABILITY_IAM"],
            OnFailure="ROLLBACK",
        )

    def update(self, stack: DesiredStack, body: str) -> bool:
        try:
            self._cfn.update_stack(
                StackName=stack.stack_name,
                TemplateBody=body,
                Parameters=_parameters(stack),
                Tags=[{"Key": k, "Value": v} for k, v in stack.tags.items()],
                Capabilities=["CAPABILITY_IAM"],
            )
        except self._cfn.exceptions.ClientError as exc:
            if "No updates are to be performed" in str(exc):
                return False
            raise
        return True

    def delete(self, stack_name: str) -> None:
        self._cfn.delete_stack(StackName=stack_name)

    def wait(self, stack_names: Sequence[str]) -> dict[str, str]:
        pending = set(stack_names)
        final: dict[str, str] = {}
        seen: dict[str, str] = {}
        started = self._clock()
        deadline = started + self._timeout
        delay = self._first
        while pending:
            for name in sorted(pending):
                status = self._status(name)
                if status is not None and status != _THROTTLED and seen.get(name) != status:
                    seen[name] = status
                    done = len(stack_names) - len(pending) + (not status.endswith("_IN_PROGRESS"))
                    self._echo(
                        f"  [{done}/{len(stack_names)}] {name}: {status} "
                        f"({self._clock() - started:.0f} s)"
                    )
                if status is not None and status.endswith("_IN_PROGRESS"):
                    continue
                final[name] = status or "DELETED"
                pending.discard(name)
            if not pending:
                break
            if self._clock() >= deadline:
                final.update({name: "TIMED_OUT" for name in pending})
                break
            self._sleep(delay)
            delay = min(delay * 1.5, self._max)
        return final

    def _status(self, name: str) -> str | None:
        try:
            stacks = self._cfn.describe_stacks(StackName=name)["Stacks"]
        except self._cfn.exceptions.ClientError as exc:
            if "does not exist" in str(exc):
                return None
            if "Throttling" in str(exc) or "Rate exceeded" in str(exc):
                return _THROTTLED  # look again on the next round
            raise
        status: str = stacks[0]["StackStatus"]
        return None if status == "DELETE_COMPLETE" else status


def _state(stack: dict[str, Any]) -> StackState:
    return StackState(
        name=stack["StackName"],
        status=stack["StackStatus"],
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        },
        tags={t["Key"]: t["Value"] for t in stack.get("Tags", [])},
    )


def _parameters(stack: DesiredStack) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()]


def _processor_threshold(params: dict[str, str]) -> str:
    """Processors search from the possible-match floor (face_events decides the band)."""
    threshold = float(params.get("FaceMatchThreshold") or 80)
    floor = float(params.get("PossibleMatchFloor") or threshold)
    return f"{processor_threshold(threshold, floor):g}"


def read_main_stack(cloudformation: Any, name: str) -> MainStack:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    exported = frozenset(o["OutputKey"] for o in stack.get("Outputs", []) if o.get("ExportName"))
    return MainStack(
        name=name,
        environment=params.get("Environment", "dev"),
        collection_id=outputs.get("CollectionId")
        or params.get("CollectionId", "facewatch-employees"),
        face_match_threshold=_processor_threshold(params),
        outputs=outputs,
        exported=exported,
        status=stack.get("StackStatus", ""),
    )
