"""The consent ledger: who agreed to face enrollment, how, on which document; and withdrawals.

ConsentTable access patterns (template.yaml):
  an employee's records, newest first   PK=EMPLOYEE#<id>  SK begins_with CONSENT#  (descending)
  every record in time order            ByTime GSI1PK=CONSENT  GSI1SK=<ISO ts>#<id>
  erasure certificates                  PK=CERTIFICATE#<id> SK=CERTIFICATE; ByTime GSI1PK=ERASURE
  an erased employee's marker           PK=ERASED#<sha256 of id> SK=ERASED
Records are appended, never changed: a withdrawal is a new record. Never an image or face data;
the document is a reference (an e-signature envelope id, a scanned form's number).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from facewatch.fleet.employees import paged, validate_employee_id

CONSENT_PARTITION = "CONSENT"
BY_TIME = "ByTime"


class ConsentMethod(StrEnum):
    E_SIGN = "e-sign"  # an electronic signature (BIPA accepts one since 2024)
    PAPER = "paper"


class ConsentStatus(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class ConsentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    employee_id: str
    at: str = Field(description="ISO-8601 UTC with milliseconds and Z")
    status: ConsentStatus
    actor: str = Field(description="IAM ARN of whoever recorded it")
    method: ConsentMethod | None = None
    document: str | None = Field(default=None, max_length=200)

    def item(self) -> dict[str, Any]:
        return {
            "PK": f"EMPLOYEE#{self.employee_id}",
            "SK": f"CONSENT#{self.at}",
            "GSI1PK": CONSENT_PARTITION,
            "GSI1SK": f"{self.at}#{self.employee_id}",
            **self.model_dump(mode="json", exclude_none=True),
        }


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def subject_digest(employee_id: str) -> str:
    """What certificates and erasure markers hold instead of the id (no personal data; the
    id's holder can still check a certificate against it)."""
    return hashlib.sha256(f"facewatch-subject:{employee_id}".encode()).hexdigest()


class ConsentLedger:
    """Append-only consent records in the ConsentTable (a boto3 Table resource)."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._table = table
        self._clock = clock

    @property
    def table(self) -> Any:
        return self._table

    def _append(self, **fields: Any) -> ConsentRecord:
        moment = self._clock()
        for _ in range(50):
            record = ConsentRecord(at=iso_ms(moment), **fields)
            try:
                self._table.put_item(
                    Item=record.item(), ConditionExpression="attribute_not_exists(SK)"
                )
                return record
            except self._table.meta.client.exceptions.ConditionalCheckFailedException:
                moment += timedelta(milliseconds=1)
        raise RuntimeError("could not find a free consent timestamp")

    def record(
        self, employee_id: str, method: ConsentMethod, document: str, actor: str
    ) -> ConsentRecord:
        validate_employee_id(employee_id)
        if not document.strip():
            raise ValueError("a consent record needs the document's reference")
        return self._append(
            employee_id=employee_id,
            status=ConsentStatus.GIVEN,
            actor=actor,
            method=method,
            document=document.strip(),
        )

    def withdraw(self, employee_id: str, actor: str) -> ConsentRecord:
        validate_employee_id(employee_id)
        return self._append(employee_id=employee_id, status=ConsentStatus.WITHDRAWN, actor=actor)

    def history(self, employee_id: str) -> list[ConsentRecord]:
        """The employee's records, oldest first."""
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415

        return [
            ConsentRecord.model_validate(i)
            for i in paged(
                self._table.query,
                KeyConditionExpression=Key("PK").eq(f"EMPLOYEE#{employee_id}")
                & Key("SK").begins_with("CONSENT#"),
                ConsistentRead=True,
            )
        ]

    def current(self, employee_id: str) -> ConsentRecord | None:
        found = self.history(employee_id)
        return found[-1] if found else None

    def has_consent(self, employee_id: str) -> bool:
        latest = self.current(employee_id)
        return latest is not None and latest.status is ConsentStatus.GIVEN

    def latest(self) -> dict[str, ConsentRecord]:
        """Every employee's latest record (``consent list``, the report's counts)."""
        from boto3.dynamodb.conditions import Key  # noqa: PLC0415

        latest: dict[str, ConsentRecord] = {}
        for item in paged(
            self._table.query,
            IndexName=BY_TIME,
            KeyConditionExpression=Key("GSI1PK").eq(CONSENT_PARTITION),
        ):
            record = ConsentRecord.model_validate(item)
            latest[record.employee_id] = record  # time order: the last one wins
        return dict(sorted(latest.items()))

    def counts(self) -> dict[str, int]:
        counted = {status.value: 0 for status in ConsentStatus}
        for record in self.latest().values():
            counted[record.status.value] += 1
        return counted
