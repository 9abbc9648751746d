"""Privacy profiles: what a site may collect and how long each kind of data is kept.

A site names one in cameras.yaml (``privacy: eu-gdpr``); custom profiles are defined in the
inventory's ``privacy_profiles`` on top of a built-in one. The registry copies the resolved
profile into every camera item, so the Lambdas enforce it where they write: the TTL of each
incident, trail and camera-state item, and the retention tag of each snapshot and archived clip
(lifecycle rules in template.yaml expire objects by that tag). ``cameras plan`` gives a camera
at a recognition-off site no stream processor and no sampler.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from facewatch.alerts.snapshots import SnapshotPolicy, retention_tagging

ProfileIdStr = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
# S3 lifecycle rules cannot read a number from a tag: one rule per tier (template.yaml;
# alerts.snapshots.RETENTION_TIERS_DAYS, checked equal by the tests).
ObjectDays = Literal[1, 7, 30, 90, 365, 1095]
DEFAULT_PROFILE = "default"
RECOGNITION_OFF = "recognition-off"


class Retention(BaseModel):
    """Days each kind of data is kept (objects: one of the lifecycle tiers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    incidents: int = Field(ge=1, le=3650, description="incident item and its trail (TTL)")
    snapshots: ObjectDays = Field(description="Slack snapshot JPEGs (S3 tag + lifecycle)")
    clips: ObjectDays = Field(description="archived MP4 clips (S3 tag + lifecycle)")
    camera_state: int = Field(ge=1, le=3650, description="per-camera grouping state (TTL)")


class PrivacyProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: ProfileIdStr
    description: str = Field(min_length=1, max_length=300)
    recognition: bool = Field(description="face search at all; off: video and health only")
    retention: Retention
    blur_faces: bool = Field(description="faces blurred in Slack snapshots")
    consent_required: bool = Field(description="enrollment needs a consent record")


class RetentionOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    incidents: int | None = Field(default=None, ge=1, le=3650)
    snapshots: ObjectDays | None = None
    clips: ObjectDays | None = None
    camera_state: int | None = Field(default=None, ge=1, le=3650)


class CustomProfile(BaseModel):
    """A profile in cameras.yaml: a built-in (or earlier custom) one with some settings changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: ProfileIdStr
    base: ProfileIdStr = DEFAULT_PROFILE
    description: str | None = Field(default=None, min_length=1, max_length=300)
    recognition: bool | None = None
    retention: RetentionOverride = RetentionOverride()
    blur_faces: bool | None = None
    consent_required: bool | None = None

    def resolve(self, base: PrivacyProfile) -> PrivacyProfile:
        retention = base.retention.model_copy(update=self.retention.model_dump(exclude_none=True))
        changes = self.model_dump(
            exclude_none=True, include={"recognition", "blur_faces", "consent_required"}
        )
        return base.model_copy(
            update={
                **changes,
                "id": self.id,
                "description": self.description or f"{base.description} (customised: {self.id})",
                "retention": retention,
            }
        )


BUILTIN_PROFILES: dict[str, PrivacyProfile] = {
    p.id: p
    for p in (
        PrivacyProfile(
            id=DEFAULT_PROFILE,
            description="No specific law chosen: recognition on, the stack's usual retention",
            recognition=True,
            retention=Retention(incidents=400, snapshots=30, clips=90, camera_state=30),
            blur_faces=False,
            consent_required=False,
        ),
        PrivacyProfile(
            id="eu-gdpr",
            description="GDPR Art. 5, 9, 35: explicit consent to enroll, short retention, "
            "faces blurred in chat",
            recognition=True,
            retention=Retention(incidents=90, snapshots=7, clips=30, camera_state=7),
            blur_faces=True,
            consent_required=True,
        ),
        PrivacyProfile(
            id="us-il-bipa",
            description="Illinois BIPA 740 ILCS 14/15: written release before enrollment, "
            "destruction well within 3 years",
            recognition=True,
            retention=Retention(incidents=365, snapshots=30, clips=90, camera_state=30),
            blur_faces=True,
            consent_required=True,
        ),
        PrivacyProfile(
            id="us-tx-cubi",
            description="Texas CUBI §503.001: consent before capture, destroyed within a year",
            recognition=True,
            retention=Retention(incidents=365, snapshots=30, clips=30, camera_state=30),
            blur_faces=True,
            consent_required=True,
        ),
        PrivacyProfile(
            id=RECOGNITION_OFF,
            description="No face recognition (e.g. Portland, OR ch. 34.10): video, camera "
            "health and presence only",
            recognition=False,
            retention=Retention(incidents=30, snapshots=1, clips=30, camera_state=7),
            blur_faces=True,
            consent_required=False,
        ),
    )
}


def resolve_profiles(custom: list[CustomProfile]) -> dict[str, PrivacyProfile]:
    """Built-in plus custom profiles; a custom one builds on a built-in or an earlier custom one."""
    profiles = dict(BUILTIN_PROFILES)
    for profile in custom:
        if profile.id in profiles:
            raise ValueError(f"privacy profile {profile.id!r} is defined twice (or is built in)")
        if profile.base not in profiles:
            raise ValueError(f"privacy profile {profile.id!r} names unknown base {profile.base!r}")
        profiles[profile.id] = profile.resolve(profiles[profile.base])
    return profiles


def snapshot_policy(profile: PrivacyProfile | None) -> SnapshotPolicy:
    """What a snapshot of a camera with this profile gets (None: an unregistered camera, whose
    snapshot is blurred and kept the shortest tier: the safe side)."""
    if profile is None:
        return SnapshotPolicy(blur_faces=True, retention_days=1)
    return SnapshotPolicy(
        blur_faces=profile.blur_faces,
        retention_days=profile.retention.snapshots,
        allowed=profile.recognition,  # recognition-off: no face data, so no snapshot either
    )


def clip_tagging(profile: PrivacyProfile | None) -> str | None:
    """The S3 Tagging of an archived clip (None: an unregistered camera, the bucket's rule)."""
    return retention_tagging(profile.retention.clips) if profile else None
