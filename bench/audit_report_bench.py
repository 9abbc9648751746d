"""How the audit report scales: aggregate and render N incidents (pure code, no AWS).

    python bench/audit_report_bench.py [N]

Prints the time to build the IncidentRecords (what the paginated queries yield), to aggregate
them and to render the HTML, and the size of the page.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from facewatch.audit.history import EmployeeEvent, IncidentRecord
from facewatch.audit.lifecycle import STATUSES
from facewatch_tools.audit.report import collect, render_html

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 365


def incidents(count: int, rng: random.Random) -> Iterator[IncidentRecord]:
    for n in range(count):
        site = f"site-{rng.randrange(12)}"
        first = SINCE + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        status = rng.choices(STATUSES, (2, 6, 2, 1))[0]
        answered = status != "open"
        yield IncidentRecord(
            incident_id=f"inc-{n:07d}",
            camera_id=f"{site}-cam{rng.randrange(40)}",
            site_id=site,
            stream_arn="arn:aws:kinesisvideo:eu-west-1:111122223333:stream/x/1",
            first_seen=first,
            last_seen=first + timedelta(seconds=30),
            detections=3,
            status=status,
            alerted_at=first + timedelta(seconds=2),
            first_response_at=first + timedelta(seconds=rng.uniform(20, 3600))
            if answered
            else None,
        )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(1)
    started = time.perf_counter()
    records = list(incidents(count, rng))
    built = time.perf_counter()
    employees = [
        EmployeeEvent(employee_id=f"e{n}", at=SINCE + timedelta(days=n), action="enrolled")
        for n in range(200)
    ]
    data = collect(SINCE, SINCE + timedelta(days=DAYS), iter(records), employees)
    aggregated = time.perf_counter()
    page = render_html(data, datetime.now(UTC), "bench")
    rendered = time.perf_counter()
    print(f"incidents: {count}")
    print(f"build records: {built - started:.2f} s ({count / (built - started):,.0f}/s)")
    print(f"aggregate:     {aggregated - built:.2f} s ({count / (aggregated - built):,.0f}/s)")
    print(f"render html:   {rendered - aggregated:.3f} s, {len(page) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
