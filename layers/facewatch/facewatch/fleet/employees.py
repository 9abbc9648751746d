"""Employee enrollment: who counts as "known" (faces in the Rekognition collection).

Every change (and every refused attempt) is written to the audit history in the table:
  PK=EMPLOYEE#<id> SK=EVENT#<ISO ts>   GSI1PK=EMPLOYEES GSI1SK=<ISO ts>#<id>
with who (the caller's IAM identity), when and what. Never the image, never face ids or other
biometric fields: the photo is identified by its file name and SHA-256.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

# IndexFaces' ExternalImageId: 1-255 of [a-zA-Z0-9_.\-:]
EMPLOYEE_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # IndexFaces/DetectFaces limit for image bytes
DELETE_BATCH = 4096  # DeleteFaces limit
AUDIT_INDEX = "ByCamera"  # GSI1 of IncidentsTable
AUDIT_PARTITION = "EMPLOYEES"


class Refusal(StrEnum):
    INVALID_ID = "INVALID_ID"
    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    TOO_LARGE = "TOO_LARGE"
    NO_FACE = "NO_FACE"
    SEVERAL_FACES = "SEVERAL_FACES"
    LOW_QUALITY = "LOW_QUALITY"
    NO_CONSENT = "NO_CONSENT"


class EnrollmentRefusedError(Exception):
    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AuditAction(StrEnum):
    ENROLLED = "ENROLLED"
    ENROLL_REFUSED = "ENROLL_REFUSED"
    REMOVED = "REMOVED"


def validate_employee_id(value: str) -> str:
    if not EMPLOYEE_ID.fullmatch(value):
        raise EnrollmentRefusedError(
            Refusal.INVALID_ID,
            f"employee id {value!r} must be 1-255 characters of letters, digits and _ . - :",
        )
    return value


def image_format(data: bytes) -> str | None:
    """JPEG or PNG by magic number (the formats Rekognition accepts); None otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    return None


def _check_bytes(data: bytes) -> None:
    if len(data) > MAX_IMAGE_BYTES:
        raise EnrollmentRefusedError(
            Refusal.TOO_LARGE, f"{len(data)} bytes; Rekognition takes at most {MAX_IMAGE_BYTES}"
        )
    if image_format(data) is None:
        raise EnrollmentRefusedError(Refusal.NOT_AN_IMAGE, "not a JPEG or PNG image")


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    employee_id: str
    at: str = Field(description="ISO-8601 UTC with milliseconds and Z")
    action: AuditAction
    actor: str = Field(description="IAM ARN of the caller (STS GetCallerIdentity)")
    photo_name: str | None = None
    photo_sha256: str | None = None
    faces: int = 0
    reason: str | None = None

    def item(self) -> dict[str, Any]:
        return {
            "PK": f"EMPLOYEE#{self.employee_id}",
            "SK": f"EVENT#{self.at}",
            "GSI1PK": AUDIT_PARTITION,
            "GSI1SK": f"{self.at}#{self.employee_id}",
            **self.model_dump(mode="json", exclude_none=True),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Append-only audit items; two events in one millisecond get the next free millisecond."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._table = table
        self._clock = clock

    def record(self, **fields: Any) -> AuditEvent:
        moment = self._clock()
        for _ in range(50):
            event = AuditEvent(at=_iso(moment), **fields)
            try:
                self._table.put_item(
                    Item=event.item(), ConditionExpression="attribute_not_exists(SK)"
                )
                return event
            except self._table.meta.client.exceptions.ConditionalCheckFailedException:
                moment += timedelta(milliseconds=1)
        raise RuntimeError("could not find a free audit timestamp")

    def history(self, employee_id: str) -> list[AuditEvent]:
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415

        return [
            AuditEvent.model_validate(i)
            for i in paged(
                self._table.query,
                KeyConditionExpression=Key("PK").eq(f"EMPLOYEE#{employee_id}")
                & Key("SK").begins_with("EVENT#"),
            )
        ]

    def since(self, start: datetime) -> list[AuditEvent]:
        """Every employee event from ``start`` on, oldest first (the auditors' report)."""
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415

        return [
            AuditEvent.model_validate(i)
            for i in paged(
                self._table.query,
                IndexName=AUDIT_INDEX,
                KeyConditionExpression=Key("GSI1PK").eq(AUDIT_PARTITION)
                & Key("GSI1SK").gte(_iso(start)),
            )
        ]


def paged(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        response = call(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


@dataclass(frozen=True)
class EnrollResult:
    employee_id: str
    photo_name: str
    indexed: bool  # False: this exact photo is already enrolled for this employee


@dataclass(frozen=True)
class PhotoCheck:
    faces: int
    refusal: Refusal | None
    detail: str
    matches: list[tuple[str, float]]  # (employee id, similarity) of the largest face


class ConsentGate(Protocol):
    """The consent ledger as enrollment sees it (privacy.consent.ConsentLedger)."""

    def has_consent(self, employee_id: str) -> bool: ...


class EmployeeCollection:
    """Enroll, remove, list and check employees in one Rekognition collection.

    ``consent``: where a site's privacy profile needs a consent record, the ledger; an
    employee without a current consent record is refused (and the refusal audited).
    """

    def __init__(
        self,
        rekognition: Any,
        collection_id: str,
        audit: AuditLog,
        actor: str,
        consent: ConsentGate | None = None,
    ) -> None:
        self._rek = rekognition
        self._collection = collection_id
        self._audit = audit
        self._actor = actor
        self._consent = consent

    # -- enroll ---------------------------------------------------------------------------------
    def enroll(
        self, employee_id: str, photo: bytes, photo_name: str, *, force: bool = False
    ) -> EnrollResult:
        """Index the photo unless the audit says it is enrolled; ``force``: index it anyway
        (roster sync found its face missing from the collection)."""
        validate_employee_id(employee_id)
        digest = hashlib.sha256(photo).hexdigest()
        if not force and digest in self.enrolled_photos(employee_id):
            return EnrollResult(employee_id, photo_name, indexed=False)
        try:
            if self._consent is not None and not self._consent.has_consent(employee_id):
                raise EnrollmentRefusedError(
                    Refusal.NO_CONSENT,
                    "a site's privacy profile needs a consent record first "
                    "(facewatch consent record)",
                )
            self._index(employee_id, photo)
        except EnrollmentRefusedError as refused:
            self._audit.record(
                employee_id=employee_id,
                action=AuditAction.ENROLL_REFUSED,
                actor=self._actor,
                photo_name=photo_name,
                photo_sha256=digest,
                reason=str(refused),
            )
            raise
        self._audit.record(
            employee_id=employee_id,
            action=AuditAction.ENROLLED,
            actor=self._actor,
            photo_name=photo_name,
            photo_sha256=digest,
            faces=1,
        )
        return EnrollResult(employee_id, photo_name, indexed=True)

    def enrolled_photos(self, employee_id: str) -> set[str]:
        """SHA-256 of the photos enrolled since the employee was last removed (from the audit
        history: re-runs skip them, and roster sync compares them with the roster)."""
        hashes: set[str] = set()
        for event in self._audit.history(employee_id):
            if event.action is AuditAction.REMOVED:
                hashes.clear()
            elif event.action is AuditAction.ENROLLED and event.photo_sha256:
                hashes.add(event.photo_sha256)
        return hashes

    def _index(self, employee_id: str, photo: bytes) -> None:
        _check_bytes(photo)
        faces = self._detect(photo)
        if faces == 0:
            raise EnrollmentRefusedError(Refusal.NO_FACE, "no face found in the photo")
        if faces > 1:
            raise EnrollmentRefusedError(
                Refusal.SEVERAL_FACES, f"{faces} faces found; the photo must show one person"
            )
        response = self._rek.index_faces(
            CollectionId=self._collection,
            Image={"Bytes": photo},
            ExternalImageId=employee_id,
            MaxFaces=1,
            QualityFilter="HIGH",
            DetectionAttributes=["DEFAULT"],
        )
        indexed = [r["Face"]["FaceId"] for r in response.get("FaceRecords", [])]
        reasons = sorted(
            {r for face in response.get("UnindexedFaces", []) for r in face.get("Reasons", [])}
        )
        if indexed and "EXCEEDS_MAX_FACES" in reasons:
            # IndexFaces saw another face DetectFaces missed: we may have indexed the wrong one.
            self._rek.delete_faces(CollectionId=self._collection, FaceIds=indexed)
            raise EnrollmentRefusedError(
                Refusal.SEVERAL_FACES, "more than one face; the photo must show one person"
            )
        if not indexed:
            raise EnrollmentRefusedError(
                Refusal.LOW_QUALITY,
                "face not indexed with QualityFilter HIGH ("
                + (", ".join(reasons) or "no reason given")
                + ")",
            )

    def _detect(self, photo: bytes) -> int:
        try:
            found = self._rek.detect_faces(Image={"Bytes": photo}, Attributes=["DEFAULT"])
        except self._rek.exceptions.InvalidImageFormatException as exc:
            raise EnrollmentRefusedError(
                Refusal.NOT_AN_IMAGE, "Rekognition cannot read it"
            ) from exc
        except self._rek.exceptions.ImageTooLargeException as exc:
            raise EnrollmentRefusedError(Refusal.TOO_LARGE, "Rekognition says too large") from exc
        return len(found.get("FaceDetails", []))

    # -- remove / list --------------------------------------------------------------------------
    def _faces(self) -> Iterator[dict[str, Any]]:
        paginator = self._rek.get_paginator("list_faces")
        for page in paginator.paginate(
            CollectionId=self._collection, PaginationConfig={"PageSize": 4096}
        ):
            yield from page.get("Faces", [])

    def faces_of(self, employee_id: str) -> list[dict[str, Any]]:
        """The employee's faces as ListFaces returns them (subject access)."""
        return [f for f in self._faces() if f.get("ExternalImageId") == employee_id]

    @property
    def collection_id(self) -> str:
        return self._collection

    def remove(self, employee_id: str) -> int:
        """Delete every face of the employee; the number deleted (0: nothing to audit)."""
        validate_employee_id(employee_id)
        ids = [f["FaceId"] for f in self._faces() if f.get("ExternalImageId") == employee_id]
        deleted = 0
        for start in range(0, len(ids), DELETE_BATCH):
            response = self._rek.delete_faces(
                CollectionId=self._collection, FaceIds=ids[start : start + DELETE_BATCH]
            )
            deleted += len(response.get("DeletedFaces", []))
        # Audited also when the faces were already gone (deleted outside facewatch): the
        # history then says nothing is enrolled, which is true.
        if ids or self.enrolled_photos(employee_id):
            self._audit.record(
                employee_id=employee_id,
                action=AuditAction.REMOVED,
                actor=self._actor,
                faces=deleted,
                reason=None if deleted == len(ids) else f"{len(ids) - deleted} not deleted",
            )
        return deleted

    def employees(self) -> dict[str, int]:
        """Employee id -> number of enrolled faces."""
        counts = Counter(f.get("ExternalImageId") or "(none)" for f in self._faces())
        return dict(sorted(counts.items()))

    # -- check ----------------------------------------------------------------------------------
    def check(self, photo: bytes, threshold: float = 80.0) -> PhotoCheck:
        """Would this photo enroll, and whom does it already match? Changes nothing."""
        try:
            _check_bytes(photo)
            faces = self._detect(photo)
        except EnrollmentRefusedError as refused:
            return PhotoCheck(0, refused.reason, refused.detail, [])
        if faces == 0:
            return PhotoCheck(0, Refusal.NO_FACE, "no face found", [])
        if faces > 1:
            return PhotoCheck(faces, Refusal.SEVERAL_FACES, f"{faces} faces found", [])
        found = self._rek.search_faces_by_image(
            CollectionId=self._collection,
            Image={"Bytes": photo},
            MaxFaces=5,
            FaceMatchThreshold=threshold,
        )
        matches = [
            (m["Face"].get("ExternalImageId") or "(none)", float(m["Similarity"]))
            for m in found.get("FaceMatches", [])
        ]
        return PhotoCheck(1, None, "one face", matches)
