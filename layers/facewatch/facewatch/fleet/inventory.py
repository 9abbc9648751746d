"""The camera inventory (``cameras.yaml``): sites and cameras, validated with line-aware errors.

Shared by the fleet tools (provisioning, registry), the office proxy and the notifiers.
RTSP credentials are never part of the inventory: the proxy reads them from its host.
"""

from __future__ import annotations

import functools
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from facewatch.fleet.profiles import (
    DEFAULT_PROFILE,
    CustomProfile,
    PrivacyProfile,
    resolve_profiles,
)

CameraIdStr = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")]
SiteIdStr = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
RegionStr = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")]


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore's endpoint data names, in every partition (a typo is refused)."""
    import botocore.session  # noqa: PLC0415 - read once, only when an inventory names a region

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("cloudformation", partition)
    )


class Detector(StrEnum):
    STREAM_PROCESSOR = "stream-processor"
    SAMPLER = "sampler"


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class Schedule(BaseModel):
    """When recognition runs, in the site's local time. No schedule means always."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: time = time(0, 0)
    end: time = time(23, 59, 59)


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: SiteIdStr
    name: str = Field(min_length=1, max_length=100)
    time_zone: str = "UTC"
    slack_route: str | None = Field(
        default=None, description="Key in the Slack webhook secret; the default route if unset"
    )
    region: RegionStr | None = Field(
        default=None,
        description="AWS region of the site's deployment: its streams, collection, table and "
        "alerts stay there. Every site names one, or none does (one region, from --region).",
    )

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value not in known_regions():
            raise ValueError(f"unknown AWS region {value!r}")
        return value

    privacy: str = Field(
        default=DEFAULT_PROFILE,
        description="Privacy profile (built-in or from privacy_profiles): recognition, retention",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: CameraIdStr = Field(description="The KVS stream name")
    site: SiteIdStr
    zone: str = Field(default="", max_length=100)
    display_name: str = Field(min_length=1, max_length=100)
    detector: Detector = Detector.SAMPLER
    schedule: Schedule | None = None
    severity: Severity = Severity.NORMAL
    rtsp_url: str | None = Field(
        default=None,
        description="rtsp://host:port/path without credentials (the proxy adds them)",
        pattern=r"^rtsps?://[^@/\s]+(/\S*)?$",
    )


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    privacy_profiles: list[CustomProfile] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Inventory:
        profiles = resolve_profiles(self.privacy_profiles)
        for site in self.sites:
            if site.privacy not in profiles:
                raise ValueError(
                    f"site {site.id!r} names unknown privacy profile {site.privacy!r} "
                    f"(known: {', '.join(sorted(profiles))})"
                )
        site_ids = [s.id for s in self.sites]
        if len(site_ids) != len(set(site_ids)):
            raise ValueError("site ids must be unique")
        camera_ids = [c.id for c in self.cameras]
        if len(camera_ids) != len(set(camera_ids)):
            raise ValueError("camera ids must be unique")
        for camera in self.cameras:
            if camera.site not in site_ids:
                raise ValueError(f"camera {camera.id!r} names unknown site {camera.site!r}")
        placed = [s.region is not None for s in self.sites]
        if any(placed) and not all(placed):
            # One error per site, located at its (missing) region, so the message has its line.
            raise ValidationError.from_exception_data(
                "Inventory",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "region_missing",
                            "site {site} names no region while other sites do: give every "
                            "site a region (or none, for a single-region deployment)",
                            {"site": site.id},
                        ),
                        loc=("sites", index, "region"),
                        input=None,
                    )
                    for index, site in enumerate(self.sites)
                    if site.region is None
                ],
            )
        return self

    @property
    def regions(self) -> list[str | None]:
        """The regions the sites name, in first-named order; [None] when none does."""
        return list(dict.fromkeys(s.region for s in self.sites)) or [None]

    def in_region(self, region: str | None) -> Inventory:
        """The sites of one region and their cameras (all of them when no site names one)."""
        if all(s.region is None for s in self.sites):
            return self
        sites = [s for s in self.sites if s.region == region]
        ids = {s.id for s in sites}
        cameras = [c for c in self.cameras if c.site in ids]
        return self.model_copy(update={"sites": sites, "cameras": cameras})

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def cameras_at(self, site_id: str) -> list[Camera]:
        return [c for c in self.cameras if c.site == site_id]

    def profiles(self) -> dict[str, PrivacyProfile]:
        """Every profile the inventory can name: built-in and custom."""
        return resolve_profiles(self.privacy_profiles)

    def profile(self, site_id: str) -> PrivacyProfile:
        """The privacy profile of a site."""
        return self.profiles()[self.site(site_id).privacy]

    def recognition_at(self, camera: Camera) -> bool:
        return self.profile(camera.site).recognition

    def consent_required(self) -> bool:
        """Whether any site's profile needs a consent record before enrollment (one collection
        serves every site, so the strictest site decides)."""
        return any(self.profile(site.id).consent_required for site in self.sites)


class InventoryError(ValueError):
    """An inventory that does not validate; the message names the file, line and field."""


def load_inventory(path: Path) -> Inventory:
    import yaml  # noqa: PLC0415 - tools only; the Lambda layer does not ship PyYAML

    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {exc.error_count()} problem(s)"]
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            line = _line_of(node, error["loc"])
            at = f"line {line}" if line else "top level"
            lines.append(f"  {at}: {where or '(inventory)'}: {error['msg']}")
        raise InventoryError("\n".join(lines)) from exc


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    import yaml  # noqa: PLC0415

    line: int | None = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            match = [v for k, v in node.value if getattr(k, "value", None) == key]
            if not match:
                return line
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line
