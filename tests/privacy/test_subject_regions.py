"""One subject-access export from every region's: the timeline against an oracle written from
the definition (every dated entry of every region, oldest first; equal times in region order,
then each store's order), undated entries (faces) only in their region's section."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from facewatch.privacy.certificates import RegionNotReached
from facewatch.privacy.subject import HeldItem, SubjectExport, across_regions
from facewatch.timestamps import iso

REGIONS = ("ap-northeast-2", "eu-central-1", "us-east-1")
T0 = 1_772_323_200  # 2026-03-01T00:00:00Z

# Per region: per store, the seconds of its entries (a store answers oldest first).
seconds = st.lists(st.integers(min_value=0, max_value=30), max_size=5).map(sorted)
regions = st.lists(st.tuples(seconds, seconds, st.integers(0, 2)), min_size=1, max_size=3)


def export_of(region: str, consent: list[int], audit: list[int], faces: int) -> SubjectExport:
    def dated(store: str, times: list[int], key: str) -> HeldItem:
        entries = [{key: iso(T0 + t), "n": n} for n, t in enumerate(times)]
        return HeldItem(store=store, category=store, since=None, entries=entries, dated_by=key)

    undated = [{"faceId": f"{region}-{n}"} for n in range(faces)]
    return SubjectExport(
        employee_id="EMP-1",
        region=region,
        held=[
            dated("consent", consent, "at"),
            dated("audit", audit, "firstSeen"),
            HeldItem(store="faces", category="faces", since=None, entries=undated),
        ],
    )


@settings(max_examples=60, derandomize=True, deadline=None)
@given(answers=regions, down=st.booleans())
def test_the_timeline_is_every_dated_entry_of_every_region_oldest_first(
    answers: list[tuple[list[int], list[int], int]], down: bool
) -> None:
    exports = [export_of(REGIONS[i], *a) for i, a in enumerate(answers)]
    missing = [RegionNotReached(region="sa-east-1", error="EndpointConnectionError")] * down
    merged = across_regions("EMP-1", exports, missing)

    expected = sorted(
        (
            (t, r, s, n)
            for r, (consent, audit, _) in enumerate(answers)
            for s, times in enumerate((consent, audit))
            for n, t in enumerate(times)
        ),
    )
    stores = ("consent", "audit")
    assert [(e.at, e.region, e.store, e.entry["n"]) for e in merged.timeline] == [
        (iso(T0 + t), REGIONS[r], stores[s], n) for t, r, s, n in expected
    ]
    assert all(e.store != "faces" for e in merged.timeline)
    assert [x.region for x in merged.regions] == list(REGIONS[: len(answers)])
    assert merged.complete is not down
    assert [m.region for m in merged.not_reached] == ["sa-east-1"] * down
