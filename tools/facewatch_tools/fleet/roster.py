"""One employee roster, one Rekognition collection per region.

The roster is the folder of photos (ids from file names or a CSV ``file,employee_id[,regions]``)
that `employees enroll-dir` reads. An entry without regions is enrolled in every region of the
deployment; ``regions`` (separated by spaces or ``;``) limits it. `employees sync` compares each
region's collection with the roster and reconciles it:

- a roster photo not enrolled in a region is enrolled there (IndexFaces, as `enroll` does);
- an employee in a region's collection but not in the roster for that region is removed;
- an employee with enrolled photos the roster no longer has is removed and enrolled again from
  the roster (a face cannot be deleted by photo: facewatch keeps no face ids);
- faces the audit history does not account for (added outside facewatch) are reported.

Erasure goes through :func:`in_every_region` (`employees remove` as :func:`erase_everywhere`;
`consent withdraw|record`, `privacy erase-employee|export-subject` directly): every region, and
the answer says which regions did not confirm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.fleet.employees import EnrollmentRefusedError


@dataclass(frozen=True)
class RosterEntry:
    employee_id: str
    photo: Path
    regions: tuple[str, ...] = ()  # empty: every region of the deployment

    def wanted_in(self, region: str | None) -> bool:
        """None: the one region of a deployment whose inventory names none (all entries)."""
        return region is None or not self.regions or region in self.regions


def parse_regions(text: str | None) -> tuple[str, ...]:
    return tuple(r for r in (text or "").replace(";", " ").split() if r)


class Collection(Protocol):
    """What sync needs of one region's collection (facewatch.fleet.employees.EmployeeCollection)."""

    def employees(self) -> dict[str, int]: ...
    def enrolled_photos(self, employee_id: str) -> set[str]: ...


@dataclass(frozen=True)
class RegionState:
    """A region's collection as facewatch sees it: faces per employee (ListFaces) and the photos
    the audit history says were enrolled since the last removal."""

    faces: Mapping[str, int]
    photos: Mapping[str, frozenset[str]]

    @classmethod
    def read(cls, collection: Collection, also: Iterable[str] = ()) -> RegionState:
        faces = collection.employees()
        ids = sorted(set(faces) | set(also))
        return cls(faces, {e: frozenset(collection.enrolled_photos(e)) for e in ids})


@dataclass(frozen=True)
class SyncPlan:
    """What sync does in one region, and the drift it found (one line per finding)."""

    region: str
    enroll: tuple[tuple[str, str], ...] = ()  # (employee id, photo sha256)
    remove: tuple[str, ...] = ()  # employee ids whose every face goes
    drift: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.enroll or self.remove)


def wanted_photos(entries: Iterable[RosterEntry], region: str | None) -> dict[str, dict[str, Path]]:
    """Employee id -> {photo sha256: path} the roster wants in ``region``."""
    wanted: dict[str, dict[str, Path]] = {}
    for entry in entries:
        if entry.wanted_in(region):
            digest = hashlib.sha256(entry.photo.read_bytes()).hexdigest()
            wanted.setdefault(entry.employee_id, {})[digest] = entry.photo
    return wanted


def plan_sync(region: str, wanted: Mapping[str, Iterable[str]], state: RegionState) -> SyncPlan:
    """Reconcile one region: pure, from the roster's photo hashes and the region's state."""
    enroll: list[tuple[str, str]] = []
    remove: list[str] = []
    drift: list[str] = []
    want = {e: frozenset(p) for e, p in wanted.items()}
    for employee in sorted(set(want) | {e for e, n in state.faces.items() if n}):
        faces = state.faces.get(employee, 0)
        enrolled = state.photos.get(employee, frozenset())
        photos = want.get(employee)
        if photos is None:
            remove.append(employee)
            drift.append(f"{employee}: {faces} face(s) in the collection, not in the roster")
            continue
        stale, lost = enrolled - photos, faces < len(enrolled)
        if stale or lost:
            # No face ids are kept, so a stale or lost photo means rebuilding the employee.
            remove.append(employee)  # also with no face left: the audit starts afresh
            enroll += [(employee, p) for p in sorted(photos)]
            if stale:
                drift.append(f"{employee}: {len(stale)} enrolled photo(s) not in the roster")
            if lost:
                drift.append(
                    f"{employee}: {faces} face(s) for {len(enrolled)} enrolled photo(s) "
                    "(deleted outside facewatch)"
                )
            drift[-1] += ": enrolled again from the roster"
            continue
        missing = sorted(photos - enrolled)
        enroll += [(employee, p) for p in missing]
        if missing and not faces:
            drift.append(f"{employee}: not in the collection ({len(missing)} photo(s))")
        elif missing:
            drift.append(f"{employee}: {len(missing)} of {len(photos)} photo(s) not enrolled")
        if faces > len(enrolled):
            drift.append(
                f"{employee}: {faces - len(enrolled)} face(s) facewatch did not enroll "
                "(added outside it; `employees remove` and sync to rebuild)"
            )
    return SyncPlan(region, tuple(enroll), tuple(remove), tuple(drift))


class Enroller(Protocol):
    def enroll(
        self, employee_id: str, photo: bytes, photo_name: str, *, force: bool = False
    ) -> object: ...
    def remove(self, employee_id: str) -> int: ...


@dataclass
class SyncResult:
    enrolled: int = 0
    removed: int = 0  # faces
    refused: list[str] = field(default_factory=list)  # "EMP photo: reason"


def apply_sync(
    plan: SyncPlan, collection: Enroller, photos: Mapping[str, Mapping[str, Path]]
) -> SyncResult:
    """Removals first (an employee being rebuilt loses its stale faces), then enrolments."""
    result = SyncResult()
    for employee in plan.remove:
        result.removed += collection.remove(employee)
    for employee, digest in plan.enroll:
        path = photos[employee][digest]
        try:
            collection.enroll(employee, path.read_bytes(), path.name, force=True)
        except EnrollmentRefusedError as refused:
            result.refused.append(f"{employee} {path.name}: {refused.reason}: {refused.detail}")
            continue
        result.enrolled += 1
    return result


# ---- erasure ------------------------------------------------------------------------------------
class Remover(Protocol):
    def remove(self, employee_id: str) -> int: ...


Opened = TypeVar("Opened")
Answer = TypeVar("Answer")


@dataclass
class EveryRegion(Generic[Answer]):
    """Per region: its answer, or why the region did not answer (run it again there)."""

    done: dict[str, Answer] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failed


REGION_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)


def in_every_region(
    regions: Mapping[str, Callable[[], Opened]],
    act: Callable[[Opened], Answer],
    errors: tuple[type[Exception], ...] = REGION_ERRORS,
) -> EveryRegion[Answer]:
    """The region loop of every change made in each region (erasure, consent records): open the
    region (opening may fail: the region is down) and act there. A region that cannot be reached
    (``errors``) is in ``failed`` and the others still run; ``errors=()`` raises instead (one
    region: its error is the answer)."""
    answers: EveryRegion[Answer] = EveryRegion()
    for region, open_region in regions.items():
        try:
            answers.done[region] = act(open_region())
        except errors as exc:
            answers.failed[region] = f"{type(exc).__name__}: {exc}"
    return answers


@dataclass
class Erasure:
    """Per region: faces deleted, or why the region did not confirm."""

    employee_id: str
    removed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every region answered (0 faces there is a complete erasure too)."""
        return not self.failed

    @property
    def faces(self) -> int:
        return sum(self.removed.values())


def erase_everywhere(
    employee_id: str,
    collections: Mapping[str, Callable[[], Remover]],
    errors: tuple[type[Exception], ...] = REGION_ERRORS,
) -> Erasure:
    """Delete every face of the employee in every region's collection (each region's audit
    history records it); the regions that did not answer are in ``failed``: run it again."""
    answers = in_every_region(collections, lambda c: c.remove(employee_id), errors)
    return Erasure(employee_id, answers.done, answers.failed)
