"""Camera and site registry in the incidents table, and the cached reader the Lambdas use.

Items (written by ``facewatch cameras apply`` from cameras.yaml):
  camera  PK=CAMERA#<cam> SK=REGISTRY  GSI1PK=REGISTRY GSI1SK=CAMERA#<cam>
  site    PK=SITE#<site>  SK=SITE      GSI1PK=REGISTRY GSI1SK=SITE#<site>
The GSI1 entries let the watchdog list every camera with one Query instead of a Scan.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from facewatch.alerts.event import CameraLocation
from facewatch.fleet.inventory import Camera, Detector, Inventory, Schedule, Severity, Site
from facewatch.fleet.profiles import BUILTIN_PROFILES, DEFAULT_PROFILE, PrivacyProfile

REGISTRY_INDEX = "ByCamera"  # GSI1 of IncidentsTable
REGISTRY_PARTITION = "REGISTRY"


class CameraInfo(BaseModel):
    """What the Lambdas know about a camera: enough to enrich an incident and to watch it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    camera_id: str
    site_id: str
    site_name: str
    zone: str = ""
    display_name: str
    time_zone: str = "UTC"
    detector: Detector = Detector.SAMPLER
    severity: Severity = Severity.NORMAL
    schedule: Schedule | None = None
    processor_name: str | None = None
    slack_route: str | None = None
    # The site's resolved profile: what the Lambdas may store for this camera and how long.
    privacy: PrivacyProfile = BUILTIN_PROFILES[DEFAULT_PROFILE]

    @property
    def stream_name(self) -> str:
        return self.camera_id  # the camera id is the KVS stream name


class SiteInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    site_id: str
    name: str
    time_zone: str = "UTC"
    slack_route: str | None = None
    privacy: PrivacyProfile = BUILTIN_PROFILES[DEFAULT_PROFILE]


def camera_key(camera_id: str) -> dict[str, str]:
    return {"PK": f"CAMERA#{camera_id}", "SK": "REGISTRY"}


def site_key(site_id: str) -> dict[str, str]:
    return {"PK": f"SITE#{site_id}", "SK": "SITE"}


def camera_item(
    camera: Camera, site: Site, processor_name: str | None, profile: PrivacyProfile | None = None
) -> dict[str, Any]:
    privacy = profile or BUILTIN_PROFILES[DEFAULT_PROFILE]
    searches = camera.detector is Detector.STREAM_PROCESSOR and privacy.recognition
    info = CameraInfo(
        camera_id=camera.id,
        site_id=site.id,
        site_name=site.name,
        zone=camera.zone,
        display_name=camera.display_name,
        time_zone=site.time_zone,
        detector=camera.detector,
        severity=camera.severity,
        schedule=camera.schedule,
        processor_name=processor_name if searches else None,
        slack_route=site.slack_route,
        privacy=privacy,
    )
    body = info.model_dump(mode="json", exclude_none=True)
    return {
        **camera_key(camera.id),
        "GSI1PK": REGISTRY_PARTITION,
        "GSI1SK": f"CAMERA#{camera.id}",
        "kind": "camera",
        **body,
    }


def site_item(site: Site, profile: PrivacyProfile | None = None) -> dict[str, Any]:
    info = SiteInfo(
        site_id=site.id,
        name=site.name,
        time_zone=site.time_zone,
        slack_route=site.slack_route,
        privacy=profile or BUILTIN_PROFILES[DEFAULT_PROFILE],
    )
    return {
        **site_key(site.id),
        "GSI1PK": REGISTRY_PARTITION,
        "GSI1SK": f"SITE#{site.id}",
        "kind": "site",
        **info.model_dump(mode="json", exclude_none=True),
    }


def desired_items(
    inventory: Inventory, processor_names: dict[str, str]
) -> dict[tuple[str, str], dict[str, Any]]:
    items = [site_item(s, inventory.profile(s.id)) for s in inventory.sites] + [
        camera_item(c, inventory.site(c.site), processor_names.get(c.id), inventory.profile(c.site))
        for c in inventory.cameras
    ]
    return {(i["PK"], i["SK"]): i for i in items}


@dataclass(frozen=True)
class RegistryPlan:
    put: list[dict[str, Any]] = field(default_factory=list)
    delete: list[dict[str, str]] = field(default_factory=list)  # only with prune

    @property
    def empty(self) -> bool:
        return not self.put and not self.delete


class Registry:
    """Reads and reconciles the registry items (tools side; the Lambdas use RegistryReader)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def items(self) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for item in _query_registry(self._table, ""):
            found[(item["PK"], item["SK"])] = item
        return found

    def plan(
        self, inventory: Inventory, processor_names: dict[str, str], prune: bool
    ) -> RegistryPlan:
        current = self.items()
        desired = desired_items(inventory, processor_names)
        put = [item for key, item in desired.items() if current.get(key) != item]
        delete = (
            [{"PK": pk, "SK": sk} for pk, sk in current if (pk, sk) not in desired] if prune else []
        )
        return RegistryPlan(put=put, delete=delete)

    def apply(self, plan: RegistryPlan) -> None:
        with self._table.batch_writer() as batch:
            for item in plan.put:
                batch.put_item(Item=item)
            for key in plan.delete:
                batch.delete_item(Key=key)


def _query_registry(table: Any, prefix: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key  # noqa: PLC0415 - boto3 is in the runtime

    condition = Key("GSI1PK").eq(REGISTRY_PARTITION)
    if prefix:
        condition = condition & Key("GSI1SK").begins_with(prefix)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"IndexName": REGISTRY_INDEX, "KeyConditionExpression": condition}
    while True:
        response = table.query(**kwargs)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class RegistryReader:
    """Cached reads for the Lambdas: one instance per container (module level in the handler).

    Entries live ``ttl_seconds``: a camera renamed in cameras.yaml shows within minutes; unknown
    cameras are cached too (as None) so a camera missing from the registry costs one read a TTL.
    """

    def __init__(
        self,
        table: Any,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock
        self._cameras: dict[str, tuple[float, CameraInfo | None]] = {}

    def camera(self, camera_id: str) -> CameraInfo | None:
        now = self._clock()
        cached = self._cameras.get(camera_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        item = self._table.get_item(Key=camera_key(camera_id)).get("Item")
        info = CameraInfo.model_validate(item) if item else None
        self._cameras[camera_id] = (now, info)
        return info

    def location(self, camera_id: str) -> CameraLocation | None:
        """Where the camera is, for the alert (face_events' CameraDirectory)."""
        info = self.camera(camera_id)
        if info is None:
            return None
        return CameraLocation(
            site_id=info.site_id,
            site_name=info.site_name,
            zone=info.zone or None,
            display_name=info.display_name,
            time_zone=info.time_zone,
            slack_route=info.slack_route,
        )

    def privacy(self, camera_id: str) -> PrivacyProfile | None:
        """The camera's site profile; None for a camera missing from the registry."""
        info = self.camera(camera_id)
        return info.privacy if info else None

    def cameras(self) -> list[CameraInfo]:
        """Every registered camera (not cached: the watchdog wants the current list)."""
        infos = [CameraInfo.model_validate(i) for i in _query_registry(self._table, "CAMERA#")]
        now = self._clock()
        for info in infos:
            self._cameras[info.camera_id] = (now, info)
        return infos

    def sites(self) -> list[SiteInfo]:
        return [SiteInfo.model_validate(i) for i in _query_registry(self._table, "SITE#")]
