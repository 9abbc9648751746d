"""One audit view over every region's table.

Each region keeps its incidents in its own table; this module reads each region (the same
queries as one table: keys and indexes, never a Scan) and merges the answers in the reader's
process, in time order. Nothing is copied between regions. A region that cannot be reached
(or fails part-way) is named in ``unreachable`` and the others still answer; with a single
region its error is raised as it would be without the merge.

Pages across regions share one cursor: for every region, the (first seen, incident id) of the
last incident shown from it. A region that was down on one page is read from where it stopped
on the next; its older incidents then open that page (the output says so).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from facewatch.audit.history import EmployeeEvent, IncidentHistory, IncidentRecord
from facewatch.audit.lifecycle import Status

CURSOR_VERSION = 1
Position = tuple[datetime, str]  # (first seen, incident id): the order of every listing


class RegionalIncident(IncidentRecord):
    """An incident and the region whose table holds it."""

    region: str


class RegionalEmployeeEvent(EmployeeEvent):
    region: str


@dataclass(frozen=True)
class RegionalHistory:
    region: str
    open: Callable[[], IncidentHistory]  # may raise: the region cannot be reached


class CursorError(ValueError):
    """A cursor this version did not write, or one for the other order."""


@dataclass(frozen=True)
class Cursor:
    newest_first: bool
    after: Mapping[str, Position] = field(default_factory=dict)  # region -> last shown

    def encode(self) -> str:
        document = {
            "v": CURSOR_VERSION,
            "desc": self.newest_first,
            "after": {r: [t.isoformat(), i] for r, (t, i) in sorted(self.after.items())},
        }
        raw = json.dumps(document, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, newest_first: bool) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            document = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if document["v"] != CURSOR_VERSION:
                raise CursorError(f"cursor version {document['v']} (this facewatch writes 1)")
            after = {
                str(r): (datetime.fromisoformat(t), str(i))
                for r, (t, i) in document["after"].items()
            }
            desc = bool(document["desc"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            if isinstance(exc, CursorError):
                raise
            raise CursorError("not a cursor printed by `facewatch audit incidents`") from exc
        if desc != newest_first:
            raise CursorError("this cursor is for the other order (--newest-first)")
        return cls(desc, after)


@dataclass
class Page:
    incidents: list[RegionalIncident]
    next_cursor: Cursor | None  # None: nothing more in any reachable region


def position(incident: IncidentRecord) -> Position:
    return (incident.first_seen, incident.incident_id)


class MergedHistory:
    """Every region's incident history as one, read-only."""

    def __init__(self, regions: Sequence[RegionalHistory]) -> None:
        self._regions = list(regions)
        self._open: dict[str, IncidentHistory] = {}
        self.unreachable: dict[str, str] = {}  # region -> why
        self.failures: dict[str, Exception] = {}  # region -> what was raised

    @property
    def regions(self) -> list[str]:
        return [r.region for r in self._regions]

    def _failed(self, region: str, exc: Exception) -> None:
        if len(self._regions) == 1:
            raise exc  # one region: its error is the answer (the CLI explains it in one line)
        self.unreachable.setdefault(region, f"{type(exc).__name__}: {exc}")
        self.failures.setdefault(region, exc)

    def raise_if_none_answered(self) -> None:
        """Every region failed: that is the command's error (credentials, region, endpoint)."""
        if self._regions and len(self.failures) == len(self._regions):
            raise next(iter(self.failures.values()))

    def _histories(self) -> Iterator[tuple[str, IncidentHistory]]:
        for regional in self._regions:
            name = regional.region
            if name in self.unreachable:
                continue
            if name not in self._open:
                try:
                    self._open[name] = regional.open()
                except (BotoCoreError, ClientError) as exc:
                    self._failed(name, exc)
                    continue
            yield name, self._open[name]

    def _guarded(self, region: str, items: Iterator[Any]) -> Iterator[Any]:
        """A region failing part-way ends its stream (and is named); the merge goes on."""
        try:
            yield from items
        except (BotoCoreError, ClientError) as exc:
            self._failed(region, exc)

    # ---- incidents ------------------------------------------------------------------------------
    def incidents(
        self,
        *,
        site: str | None = None,
        camera: str | None = None,
        status: Status | None = None,
        since: float | None = None,
        until: float | None = None,
        newest_first: bool = False,
        cursor: Cursor | None = None,
    ) -> Iterator[RegionalIncident]:
        """Every reachable region's incidents with first detection in [since, until), merged in
        (first seen, incident id) order; after the cursor's position in each region."""
        streams = []
        for region, history in self._histories():
            after = cursor.after.get(region) if cursor else None
            start, end = since, until
            if after is not None and not newest_first:
                start = max(start or 0.0, after[0].timestamp())
            elif after is not None:
                end = min(end or float("inf"), after[0].timestamp() + 0.001)
            found = history.incidents(
                site=site,
                camera=camera,
                status=status,
                since=start,
                until=None if end == float("inf") else end,
                newest_first=newest_first,
            )
            streams.append(self._tagged(region, self._guarded(region, found), after, newest_first))
        yield from heapq.merge(*streams, key=position, reverse=newest_first)

    @staticmethod
    def _tagged(
        region: str, found: Iterator[IncidentRecord], after: Position | None, newest_first: bool
    ) -> Iterator[RegionalIncident]:
        for incident in found:
            key = position(incident)
            if after is not None and (key <= after if not newest_first else key >= after):
                continue  # shown on an earlier page
            yield RegionalIncident(**dict(incident), region=region)

    def page(self, limit: int, cursor: Cursor | None = None, **filters: Any) -> Page:
        newest_first = bool(filters.get("newest_first", False))
        merged = self.incidents(cursor=cursor, **filters)
        shown = list(islice(merged, limit))
        more = next(merged, None) is not None
        if not more:
            return Page(shown, None)
        after = dict(cursor.after) if cursor else {}
        last = position(shown[-1]) if shown else None
        for region in self.regions:
            if region in self.unreachable:
                mine = [position(i) for i in shown if i.region == region]
                if mine:
                    after[region] = mine[-1]
            elif last is not None:
                after[region] = last
        return Page(shown, Cursor(newest_first, after))

    def get(self, incident_id: str) -> RegionalIncident | None:
        """The incident from the region that holds it (ids are unique across regions)."""
        for region, history in self._histories():
            try:
                found = history.get(incident_id)
            except (BotoCoreError, ClientError) as exc:
                self._failed(region, exc)
                continue
            if found is not None:
                return RegionalIncident(**dict(found), region=region)
        return None

    def history_of(self, region: str) -> IncidentHistory:
        return dict(self._histories())[region]

    def employee_events(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[RegionalEmployeeEvent]:
        """Every region's enrolments and removals, merged by time (each region audits its own
        collection, so one enrolment in two regions is two events)."""
        streams = [
            (
                RegionalEmployeeEvent(**dict(e), region=region)
                for e in self._guarded(region, history.employee_events(since=since, until=until))
            )
            for region, history in self._histories()
        ]
        yield from heapq.merge(*streams, key=lambda e: (e.at, e.employee_id, e.region))
