"""Face tracks (swaps, occlusion, re-entry, when to search), the adaptive analysis rate, and the
motion regions that decide whether DetectFaces is worth a call (lighting is not a person)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewatch.sampler.motion import person_regions, signature
from facewatch.sampler.tracks import (
    RateRules,
    SeenFace,
    Tracker,
    TrackRules,
    next_analysis_ms,
)
from tests.sampler.sampler_scene import Lighting, Scene, SimClock, Visit

EMPLOYEE: list[dict[str, Any]] = [
    {"Similarity": 98.7, "Face": {"FaceId": "f-1", "ExternalImageId": "EMP-10442"}}
]
POSSIBLE: list[dict[str, Any]] = [
    {"Similarity": 75.0, "Face": {"FaceId": "f-1", "ExternalImageId": "EMP-10442"}}
]
GRID = (64, 36)


def face(left: float, top: float = 0.2, size: float = 0.12, **kwargs: Any) -> SeenFace:
    return SeenFace(box=(left, top, size, size * 1.6), pixels=80.0, **kwargs)


def step(tracker: Tracker, at_ms: int, faces: list[SeenFace], results: Any) -> list[bool]:
    """One analysed frame: searches what the tracker asks for, answering by face position."""
    out = []
    for assignment in tracker.update(at_ms, faces):
        if assignment.search:
            left = assignment.face.box[0]
            tracker.searched(
                assignment.track, assignment.face, results(left) if callable(results) else results
            )
        out.append(assignment.search)
    return out


def walking(start: float, per_second: float) -> Callable[[int], float]:
    """A face's left edge at time t (ms): walking at ``per_second`` frame widths a second."""
    return lambda t: start + per_second * t / 1000


class TestTracks:
    def test_an_employee_in_view_is_searched_once(self) -> None:
        tracker = Tracker()
        searches = [
            step(tracker, i * 500, [face(0.3 + 0.001 * (i % 3))], EMPLOYEE) for i in range(600)
        ]
        assert sum(s[0] for s in searches) == 1
        [track] = tracker.tracks
        assert track.known and track.reported == 0

    def test_a_turned_face_waits_for_a_good_one(self) -> None:
        tracker = Tracker()
        assert step(tracker, 0, [face(0.3, yaw=55.0)], EMPLOYEE) == [False]
        assert tracker.tracks[0].matches is None  # left out of the record meanwhile
        assert step(tracker, 500, [face(0.3)], EMPLOYEE) == [True]
        assert tracker.tracks[0].known

    def test_a_face_never_good_is_searched_as_it_is_after_a_few_frames(self) -> None:
        tracker = Tracker(TrackRules(unsure_after=3))
        got = [step(tracker, i * 500, [face(0.3, sharpness=20.0)], []) for i in range(5)]
        assert [g[0] for g in got] == [False, False, True, False, False]
        assert tracker.tracks[0].unknown and not tracker.tracks[0].sure

    def test_a_possible_match_is_searched_again_up_to_the_limit(self) -> None:
        tracker = Tracker(TrackRules(max_searches=3))
        got = [step(tracker, i * 500, [face(0.3)], POSSIBLE) for i in range(6)]
        assert sum(g[0] for g in got) == 3
        # Reported as searched (face_events makes it a possible match), never as known.
        assert tracker.tracks[0].matches == POSSIBLE and not tracker.tracks[0].known

    def test_crossing_faces_keep_their_tracks_and_are_searched_again_once_apart(self) -> None:
        tracker = Tracker()

        def frame(i: int) -> list[bool]:
            stranger, employee = 0.1 + 0.06 * i, 0.7 - 0.06 * i  # crossing at 0.06 a frame
            return step(
                tracker,
                i * 500,
                [face(stranger), face(employee)],
                lambda left: [] if left == stranger else EMPLOYEE,  # who is really there
            )

        for i in range(3):
            frame(i)
        a, b = sorted(tracker.tracks, key=lambda t: t.box[0])
        assert a.unknown and b.known
        searched = [frame(i) for i in range(3, 12)]
        # Tracks followed their faces through the crossing (velocity), not swapped.
        assert a.box[0] > 0.5 and b.box[0] < 0.5
        # While overlapping both were ambiguous; once apart each was searched again.
        assert any(all(s) for s in searched)
        assert a.unknown and b.known
        assert not a.ambiguous and not b.ambiguous

    def test_an_occluded_employee_found_again_soon_is_not_searched_again(self) -> None:
        tracker = Tracker()
        step(tracker, 0, [face(0.3)], EMPLOYEE)
        for t in range(500, 4_500, 500):  # someone passes in front: no face seen for 4 s
            step(tracker, t, [], EMPLOYEE)
        assert step(tracker, 4_500, [face(0.31)], EMPLOYEE) == [False]
        assert len(tracker.tracks) == 1 and tracker.tracks[0].known

    def test_a_face_found_again_after_long_is_searched_again(self) -> None:
        tracker = Tracker(TrackRules(reacquire_ms=10_000, still_reacquire_ms=900_000))
        step(tracker, 0, [face(0.3)], EMPLOYEE)
        step(tracker, 500, [face(0.3)], EMPLOYEE)
        # 60 s unseen, found near but not in its place: it may be someone else.
        assert step(tracker, 60_000, [face(0.34)], []) == [True]
        assert tracker.tracks[0].unknown

    def test_an_employee_still_at_a_desk_is_searched_again_only_after_long(self) -> None:
        tracker = Tracker(TrackRules(still_reacquire_ms=900_000))
        step(tracker, 0, [face(0.3)], EMPLOYEE)
        step(tracker, 500, [face(0.3)], EMPLOYEE)
        assert step(tracker, 300_000, [face(0.3)], EMPLOYEE) == [False]  # verified in place
        assert step(tracker, 1_300_000, [face(0.3)], EMPLOYEE) == [True]  # 16 min unseen

    def test_re_entry_after_the_track_is_gone_starts_a_new_searched_track(self) -> None:
        tracker = Tracker(TrackRules(lost_ms=8_000))
        step(tracker, 0, [face(0.3)], [])
        step(tracker, 9_000, [], [])  # an unknown track unseen for 8 s is dropped
        assert tracker.tracks == []
        assert step(tracker, 20_000, [face(0.3)], []) == [True]
        assert tracker.tracks[0].track_id == 2

    def test_velocity_survives_the_gap_between_looks_at_a_walking_employee(self) -> None:
        # A walking employee is looked at every few seconds: where they went is still told by
        # their velocity, across the gap and beyond it.
        tracker = Tracker()
        for i in range(3):
            step(tracker, i * 500, [face(0.1 + 0.01 * i)], EMPLOYEE)  # 0.02 a second
        [track] = tracker.tracks
        moving = track.velocity[0]
        assert moving > 0.01
        step(tracker, 7_000, [face(0.1 + 0.02 * 7)], EMPLOYEE)  # 6 s later, where it walked
        assert track.velocity[0] >= moving
        assert track.predicted(13_000)[0] == pytest.approx(0.24 + track.velocity[0] * 6)

    def test_people_crossing_between_looks_seconds_apart_keep_their_tracks(self) -> None:
        tracker = Tracker()
        employee, stranger = walking(0.1, 0.035), walking(0.8, -0.035)
        # Settled, then looked at every 6 s: they cross between two looks, never seen overlapping.
        for t in [0, 500, 1_000, 7_000, 13_000]:
            step(
                tracker,
                t,
                [face(employee(t)), face(stranger(t))],
                lambda left, t=t: EMPLOYEE if left == employee(t) else [],
            )
            by_place = sorted(tracker.tracks, key=lambda track: track.box[0])
            crossed = t >= 13_000  # the employee is on the right now
            assert [track.known for track in by_place] == [not crossed, crossed]

    def test_a_crossed_track_is_not_reported_until_searched_again(self) -> None:
        tracker = Tracker()
        employee, stranger = walking(0.3, 0.1), walking(0.5, -0.1)

        def frame(t: int) -> list[bool]:
            return step(
                tracker,
                t,
                [face(employee(t)), face(stranger(t))],
                lambda left: EMPLOYEE if left == employee(t) else [],
            )

        frame(0)
        frame(500)
        [mine, theirs] = tracker.tracks
        assert mine.known and theirs.unknown and mine.reportable and theirs.reportable
        # Overlapping: either face may be either person, and a crop holds both: not searched,
        # and not reported with matches that may be the other's.
        assert frame(1_000) == [False, False]
        assert not mine.reportable and not theirs.reportable
        assert frame(1_500) == [True, True]  # apart: both searched again
        assert mine.reportable and theirs.reportable
        by_place = sorted(tracker.tracks, key=lambda track: track.box[0])
        assert [track.known for track in by_place] == [False, True]  # the employee is right

    def test_a_face_found_again_after_long_is_not_reported_until_searched(self) -> None:
        tracker = Tracker(TrackRules(reacquire_ms=10_000))
        step(tracker, 0, [face(0.3)], EMPLOYEE)
        step(tracker, 500, [face(0.3)], EMPLOYEE)
        assert step(tracker, 60_000, [face(0.34, yaw=60.0)], EMPLOYEE) == [False]  # turned
        assert not tracker.tracks[0].reportable  # may be someone else: not EMPLOYEE's name
        assert step(tracker, 60_500, [face(0.34)], EMPLOYEE) == [True]
        assert tracker.tracks[0].reportable

    def test_someone_who_takes_the_place_of_a_person_gone_from_view_is_searched(self) -> None:
        tracker = Tracker()
        step(tracker, 0, [face(0.3), face(0.5)], lambda left: EMPLOYEE if left < 0.4 else [])
        # 2 s later the employee has turned away (no face); the stranger walked to their place.
        [searched] = step(tracker, 2_000, [face(0.32)], [])
        assert searched
        [track] = [t for t in tracker.tracks if t.seen_ms == 2_000]
        assert track.unknown and track.reportable

    def test_a_smaller_face_where_a_larger_one_was_is_someone_else(self) -> None:
        tracker = Tracker()
        step(tracker, 0, [face(0.3, size=0.15)], EMPLOYEE)
        # The employee turned away; a face behind them, much smaller, shows in their place.
        assert step(tracker, 500, [face(0.31, size=0.09)], []) == [True]
        [track] = [t for t in tracker.tracks if t.seen_ms == 500]
        assert track.track_id == 2 and track.unknown

    def test_tracks_survive_a_handover(self) -> None:
        tracker = Tracker()
        step(tracker, 0, [face(0.3)], EMPLOYEE)
        again = Tracker.loads(tracker.dumps(), tracker.rules)
        assert again.last_ms == 0  # what "seen in the last analysed frame" means next
        assert step(again, 500, [face(0.3)], EMPLOYEE) == [False]
        assert again.tracks[0].known and again.next_id == tracker.next_id


def identity(who: str | None) -> list[dict[str, Any]]:
    """What SearchFacesByImage returns for this person's face: the employee, or nothing."""
    if who is None:
        return []
    return [{"Similarity": 99.0, "Face": {"FaceId": f"f-{who}", "ExternalImageId": who}}]


# Coarse values on purpose: people at the same height, of the same size, at the same speed are
# the hard cases (side by side, one taking the other's place), and a grid makes them common.
PERSON = st.tuples(
    st.integers(1, 12).map(lambda i: i / 16),  # left at t = 0
    st.sampled_from([-0.04, -0.03, -0.02, 0.0, 0.02, 0.03, 0.04]),  # frame ratios a second
    st.sampled_from([0.2, 0.3, 0.5]),  # top
    st.sampled_from([0.08, 0.1, 0.125, 0.16]),  # face width (0.08 behind 0.125: not alike)
    st.sampled_from(["EMP-1", "EMP-2", None]),
    st.booleans(),  # turned at every other look (not searchable then)
)


class TestTrackProperties:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        people=st.lists(PERSON, min_size=1, max_size=3),
        gaps=st.lists(st.integers(500, 8_000), min_size=2, max_size=14),
    )
    def test_a_reported_face_never_carries_another_persons_matches(
        self, people: list[tuple[float, float, float, float, str | None, bool]], gaps: list[int]
    ) -> None:
        """Oracle: the person whose face it is. People walk at any speed and direction, cross,
        walk side by side, leave and enter at the edges; looks come 0.5-8 s apart. Whatever
        the tracker associates, a face it reports carries its own person's matches (an
        employee's name never goes to a stranger, nor the other way round)."""
        tracker, t = Tracker(), 0
        for look, gap in enumerate(gaps):
            faces, truth = [], []
            for x, vx, top, size, who, turns in people:
                left = x + vx * t / 1000
                if 0.0 <= left <= 1.0 - size:
                    yaw = 55.0 if turns and look % 2 else 0.0
                    faces.append(SeenFace((left, top, size, size * 1.6), 80.0, yaw=yaw))
                    truth.append(who)
            for assignment, who in zip(tracker.update(t, faces), truth, strict=True):
                if assignment.search:
                    tracker.searched(assignment.track, assignment.face, identity(who))
                if assignment.track.reportable:
                    assert assignment.track.matches == identity(who), (t, who)
            t += gap


class TestRate:
    def test_faster_while_a_track_is_new_slower_while_every_track_is_known(self) -> None:
        rules, tracker = RateRules(), Tracker()
        assert next_analysis_ms(tracker, 0, 0, None, rules) is None  # nothing: motion decides
        step(tracker, 0, [face(0.3, yaw=60.0)], EMPLOYEE)  # not searched yet
        assert next_analysis_ms(tracker, 0, 0, None, rules) == rules.new_ms
        step(tracker, 500, [face(0.3)], EMPLOYEE)
        assert next_analysis_ms(tracker, 500, 500, None, rules) == 500 + rules.still_known_ms

    def test_a_stranger_is_followed_fast_then_every_few_seconds(self) -> None:
        rules, tracker = RateRules(unknown_records=3), Tracker()
        step(tracker, 0, [face(0.3)], [])
        [track] = tracker.tracks
        track.reported = 1
        assert next_analysis_ms(tracker, 0, 0, None, rules) == rules.new_ms
        track.reported = 3
        assert next_analysis_ms(tracker, 0, 0, None, rules) == rules.unknown_ms

    def test_a_walking_employee_is_checked_for_someone_behind(self) -> None:
        rules, tracker = RateRules(), Tracker()
        for i in range(3):
            step(tracker, i * 500, [face(0.1 + 0.03 * i)], EMPLOYEE)
        tracker.moved(1_000, [(0.15, 0.3, 0.1, 0.5)])
        assert next_analysis_ms(tracker, 1_000, 1_000, None, rules) == 1_000 + rules.moving_known_ms

    def test_an_employee_just_recognised_is_looked_at_once_more_soon(self) -> None:
        # Someone right behind them moves inside their region: only a look finds them.
        rules, tracker = RateRules(), Tracker()
        step(tracker, 0, [face(0.3)], EMPLOYEE)  # recognised at once, seen once
        assert tracker.tracks[0].known and not tracker.tracks[0].settled
        assert next_analysis_ms(tracker, 0, 0, None, rules) == rules.new_ms
        step(tracker, 500, [face(0.3)], EMPLOYEE)
        assert next_analysis_ms(tracker, 500, 500, None, rules) == 500 + rules.still_known_ms

    def test_faceless_motion_is_looked_at_slower_once_looks_found_no_face(self) -> None:
        rules = RateRules(faceless_ms=3_000, faceless_fast_looks=2, faceless_slow_ms=5_000)
        assert [rules.faceless_wait_ms(looks) for looks in range(4)] == [3_000] * 2 + [5_000] * 2

    def test_a_seated_employees_sway_at_the_frames_edge_is_theirs(self) -> None:
        # The motion gate's regions are whole cells: sway in the edge column, just outside the
        # person region, is still the employee's (not someone new to look at every few seconds).
        tracker = Tracker(TrackRules())
        for t in (0, 500):
            step(tracker, t, [face(0.08, top=0.32, size=0.066)], EMPLOYEE)
        [track] = tracker.tracks
        assert track.at_desk
        edge = (0.0, 0.47, 1 / 64, 0.5)
        assert tracker.moved(60_000, [edge]) == []
        assert tracker.interesting(60_000, [edge]) == []
        assert tracker.moved(60_000, [(0.5, 0.47, 0.05, 0.5)]) != []  # elsewhere: someone new

    def test_a_track_gone_from_the_last_frame_with_no_motion_since_is_not_due(self) -> None:
        rules, tracker = RateRules(), Tracker()
        for i in range(3):
            step(tracker, i * 500, [face(0.3)], [])  # a stranger, 3 records
        [track] = tracker.tracks
        track.reported = 3
        assert next_analysis_ms(tracker, 1_000, 1_000, None, rules) == 1_000 + rules.unknown_ms
        step(tracker, 3_000, [], [])  # the next analysis no longer finds the face (left)
        assert next_analysis_ms(tracker, 3_000, 3_500, None, rules) is None
        # Motion where they were (still theirs, 2.5 s after the face) makes them due again, as
        # faceless motion is (someone moving whose face the last look did not find).
        assert tracker.moved(3_500, [(0.25, 0.3, 0.2, 0.6)]) == []
        assert next_analysis_ms(tracker, 3_000, 3_500, None, rules) == 3_000 + rules.faceless_ms


def gate(scene: Scene, t: float) -> bytes:
    return signature(scene.render(t, (128, 72)), GRID)


class TestMotionRegions:
    @pytest.mark.parametrize(
        "light",
        [
            Lighting("switch", 10.0, 20.0, 0.55),  # lights off
            Lighting("door", 10.0, 20.0, 1.6),  # a door's light on the floor
            Lighting("cloud", 0.0, 20.0, 0.6),  # a cloud (gradual)
        ],
    )
    def test_lighting_changes_are_not_a_person(self, light: Lighting) -> None:
        scene = Scene(clock=SimClock(0.0), lighting=[light])
        for t in (9.5, 10.0, 10.5, 19.5, 20.0):
            assert person_regions(gate(scene, t), gate(scene, t - 0.5), GRID, 24) == []

    def test_a_person_walking_in_is_a_region_where_they_are(self) -> None:
        scene = Scene(clock=SimClock(0.0), visits=[Visit(10.0, 20.0, None, 0.3, 0.1, 0.6)])
        regions = person_regions(gate(scene, 11.0), gate(scene, 10.5), GRID, 24)
        assert regions
        left, _top, width, _height = regions[0]
        face_left = scene.visits[0].box(11.0)[0]  # type: ignore[index]
        assert left - 0.1 <= face_left <= left + width + 0.1

    def test_a_person_walking_in_under_lights_switched_off_is_still_seen(self) -> None:
        scene = Scene(
            clock=SimClock(0.0),
            visits=[Visit(10.0, 20.0, None, 0.3, 0.1, 0.6)],
            lighting=[Lighting("switch", 0.0, 30.0, 0.55)],
        )
        assert person_regions(gate(scene, 11.0), gate(scene, 10.5), GRID, 24)
