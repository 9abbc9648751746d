"""A camera scenario: who walks past which camera, when, for how long (YAML, validated)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from facewatch.fleet.inventory import Camera, Site

DEFAULT_SCENARIO = "default.yaml"


class Employee(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=255, description="The ExternalImageId of the face")
    name: str = ""


class Visit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    person: str = Field(min_length=1, description="An employee id, or any other name (a stranger)")
    camera: str
    at: float = Field(ge=0, description="Seconds from the start of the scenario")
    seconds: float = Field(gt=0, le=3600, description="How long the face is in view")
    side_on: float = Field(
        default=0.0, ge=0, le=1, description="Chance that a frame shows the face side-on"
    )


class Phone(BaseModel):
    """A security phone: a site's (`facewatch subscribers add --site`), or org-wide."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    number: str = Field(pattern=r"^\+[1-9][0-9]{7,14}$", description="E.164")
    site: str | None = Field(default=None, description="The site whose alerts it gets; none: all")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "scenario"
    seed: int = 7
    fps: float = Field(default=2.0, gt=0, le=30, description="Analysed frames a second")
    idle_frame_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A camera with nobody in view still reports a frame this often",
    )
    duration_seconds: float | None = Field(default=None, gt=0, le=3600)
    sites: list[Site] = Field(min_length=1)
    cameras: list[Camera] = Field(min_length=1)
    employees: list[Employee] = Field(default_factory=list)
    visits: list[Visit] = Field(default_factory=list)
    phones: list[Phone] = Field(
        default_factory=list,
        description="Security phones subscribed to the SMS topic: a number (org-wide) or "
        "{number, site} (that site's alerts only)",
    )

    @field_validator("phones", mode="before")
    @classmethod
    def _numbers_are_org_wide(cls, value: Any) -> Any:
        """A bare number is an org-wide phone."""
        if isinstance(value, list):
            return [{"number": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        sites = {s.id for s in self.sites}
        cameras = {c.id for c in self.cameras}
        for camera in self.cameras:
            if camera.site not in sites:
                raise ValueError(f"camera {camera.id!r} names unknown site {camera.site!r}")
        for phone in self.phones:
            if phone.site is not None and phone.site not in sites:
                raise ValueError(f"phone {phone.number} names unknown site {phone.site!r}")
        for visit in self.visits:
            if visit.camera not in cameras:
                raise ValueError(f"visit of {visit.person!r} names unknown camera {visit.camera!r}")
        return self

    @property
    def duration(self) -> float:
        if self.duration_seconds is not None:
            return self.duration_seconds
        return max((v.at + v.seconds for v in self.visits), default=0.0) + 2.0

    def employee_ids(self) -> set[str]:
        return {e.id for e in self.employees}

    def phones_of(self, site: str | None) -> list[str]:
        """The numbers subscribed for one site's alerts (None: the org-wide ones)."""
        return [phone.number for phone in self.phones if phone.site == site]

    def slack_routes(self) -> list[str]:
        return [s.slack_route for s in self.sites if s.slack_route]


class ScenarioError(ValueError):
    """The scenario file does not validate; the message names the file and the fields."""


def parse_scenario(text: str, source: str) -> Scenario:
    try:
        data: Any = yaml.safe_load(text) or {}
        return Scenario.model_validate(data)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(scenario)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ScenarioError(f"{source}: {problems}") from exc


def load_scenario(path: Path | None = None) -> Scenario:
    """The given scenario file, or the default scenario shipped with facewatch."""
    if path is None:
        text = (
            resources.files("facewatch_tools").joinpath("scenarios", DEFAULT_SCENARIO).read_text()
        )
        return parse_scenario(text, f"facewatch_tools/scenarios/{DEFAULT_SCENARIO}")
    return parse_scenario(path.read_text(encoding="utf-8"), str(path))
