"""Erasure certificates: what was deleted, where, when and by whom; no personal data.

Each erasure command writes one to the consent table (it outlives the data it speaks of) and
prints it. An employee appears only as a digest of the id (consent.subject_digest), an incident
by its id (a random-looking hash, not personal data), a place and time by camera and range.
``residuals`` says what AWS still holds that facewatch cannot delete at once, and until when.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ERASURE_PARTITION = "ERASURE"


class ErasureRequest(StrEnum):
    EMPLOYEE = "erase-employee"
    INCIDENT = "erase-incident"
    PLACE_AND_TIME = "erase-place-and-time"
    CONSENT_WITHDRAWN = "consent-withdrawn"


class Deletion(BaseModel):
    model_config = ConfigDict(frozen=True)
    store: str = Field(description="e.g. dynamodb:<table>, s3:<bucket>, sqs:<queue>")
    what: str
    count: int = Field(ge=0)


class Residual(BaseModel):
    """A copy facewatch cannot delete now: it expires on its own."""

    model_config = ConfigDict(frozen=True)
    store: str
    holds: str
    until: str | None = Field(description="ISO-8601 UTC when it is gone; None: not ours to delete")


class ErasureCertificate(BaseModel):
    model_config = ConfigDict(frozen=True)
    certificate_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    request: ErasureRequest
    subject: str = Field(description="incident id, camera and range, or sha256 of an employee id")
    issued_at: str
    actor: str = Field(description="IAM ARN of whoever ran the command")
    region: str
    deleted: list[Deletion]
    residuals: list[Residual]

    @property
    def total(self) -> int:
        return sum(d.count for d in self.deleted)

    def item(self) -> dict[str, Any]:
        return {
            "PK": f"CERTIFICATE#{self.certificate_id}",
            "SK": "CERTIFICATE",
            "GSI1PK": ERASURE_PARTITION,
            "GSI1SK": f"{self.issued_at}#{self.certificate_id}",
            "certificate": self.model_dump_json(),
        }

    def text(self) -> str:
        lines = [
            f"erasure certificate {self.certificate_id}",
            f"  request  {self.request.value} {self.subject}",
            f"  issued   {self.issued_at} by {self.actor} in {self.region}",
        ]
        for d in (d for d in self.deleted if d.count):
            lines.append(f"  deleted  {d.count:>4} {d.what} ({d.store})")
        if not self.total:
            lines.append("  deleted  nothing: already erased (or never held)")
        for r in self.residuals:
            until = f"until {r.until}" if r.until else "outside facewatch: delete it there"
            lines.append(f"  still    {r.holds} ({r.store}) {until}")
        return "\n".join(lines)


class RegionNotReached(BaseModel):
    model_config = ConfigDict(frozen=True)
    region: str
    error: str = Field(description="why the region did not answer (the SDK's error)")


class CrossRegionCertificate(BaseModel):
    """One request carried out in every region of a deployment (one main stack per region).

    Each region's own certificate proves its erasure and is kept in that region's consent
    table (the proof stays where the data was; nothing is copied between regions). A region not
    reached is named: the erasure is incomplete until it is run there again.
    """

    model_config = ConfigDict(frozen=True)
    request: ErasureRequest
    subject: str
    regions: list[ErasureCertificate]
    not_reached: list[RegionNotReached]

    @property
    def complete(self) -> bool:
        return not self.not_reached

    def text(self) -> str:
        done = ", ".join(c.region for c in self.regions) or "none"
        lines = [f"{self.request.value} {self.subject}: erased in {done}"]
        for certificate in self.regions:
            lines += [f"  {line}" for line in certificate.text().splitlines()]
        for missing in self.not_reached:
            lines.append(f"  NOT ERASED in {missing.region}: not reached ({missing.error})")
        return "\n".join(lines)
