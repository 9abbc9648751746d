"""Watchdog state machine: transitions with an injected clock (no AWS, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from facewatch.fleet.health import Overall, RecognitionState, VideoState
from facewatch.fleet.inventory import Detector, Schedule, Weekday
from facewatch.fleet.registry import CameraInfo
from facewatch.fleet.watchdog import (
    Action,
    HealthRecord,
    Observation,
    Policy,
    ProcessorView,
    Watchdog,
    decide,
    schedule_active,
    weekly_hours,
)

from .fakes import FakeFragments, FakeProcessors, FakePublisher, FakeStore

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
POLICY = Policy()


def obs(
    now: datetime,
    *,
    status: str | None = "RUNNING",
    active: bool = True,
    fragment_age: timedelta | None = timedelta(seconds=5),
    message: str | None = None,
    processor: bool = True,
) -> Observation:
    return Observation(
        now=now,
        schedule_active=active,
        last_fragment_at=None if fragment_age is None else now - fragment_age,
        processor=ProcessorView(name="p", status=status, status_message=message)
        if processor
        else None,
    )


def run(steps: list[Observation]) -> list[tuple[HealthRecord, Action, bool]]:
    prev: HealthRecord | None = None
    out = []
    for step in steps:
        decision = decide("cam", step, prev, POLICY)
        out.append((decision.record, decision.action, decision.changed))
        prev = decision.record
    return out


# ---- schedules ----------------------------------------------------------------------------------
WEEKDAYS_9_TO_5 = Schedule(
    days=[Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI],
    start=time(9, 0),
    end=time(17, 0),
)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), True),  # Wed 09:00 in Seoul
        (datetime(2026, 11, 24, 23, 59, tzinfo=UTC), False),  # Wed 08:59 in Seoul
        (datetime(2026, 11, 25, 8, 0, tzinfo=UTC), False),  # Wed 17:00 in Seoul: end excluded
        (datetime(2026, 11, 28, 3, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_schedule_uses_the_site_time_zone(utc: datetime, expected: bool) -> None:
    assert schedule_active(WEEKDAYS_9_TO_5, "Asia/Seoul", utc) is expected


def test_overnight_schedule_belongs_to_the_day_it_starts() -> None:
    night = Schedule(days=[Weekday.FRI], start=time(22, 0), end=time(6, 0))
    assert schedule_active(night, "UTC", datetime(2026, 11, 27, 23, 0, tzinfo=UTC))  # Fri 23:00
    assert schedule_active(night, "UTC", datetime(2026, 11, 28, 5, 0, tzinfo=UTC))  # Sat 05:00
    assert not schedule_active(night, "UTC", datetime(2026, 11, 28, 23, 0, tzinfo=UTC))  # Sat
    assert not schedule_active(night, "UTC", datetime(2026, 11, 27, 5, 0, tzinfo=UTC))  # Fri 05


def test_no_schedule_is_always_and_default_schedule_covers_whole_days() -> None:
    assert schedule_active(None, "UTC", T0)
    assert schedule_active(Schedule(), "UTC", T0.replace(hour=23, minute=59, second=59))
    assert weekly_hours(None) == 168
    assert weekly_hours(Schedule()) == 168
    assert weekly_hours(WEEKDAYS_9_TO_5) == 40
    assert weekly_hours(Schedule(days=[Weekday.FRI], start=time(22), end=time(6))) == 8


# ---- transitions --------------------------------------------------------------------------
def test_healthy_camera_reports_once_then_stays_quiet() -> None:
    steps = run([obs(T0), obs(T0 + timedelta(minutes=1)), obs(T0 + timedelta(minutes=2))])
    first, second, third = steps
    assert first[0].health.status is Overall.HEALTHY and first[2] is True
    assert [s[2] for s in (second, third)] == [False, False]
    assert all(s[1] is Action.NONE for s in steps)


def test_failed_processor_is_restarted_with_exponential_backoff() -> None:
    minute = timedelta(minutes=1)
    steps = run(
        [obs(T0)]
        + [
            obs(T0 + minute * i, status="FAILED", message="Access denied to Role")
            for i in range(1, 9)
        ]
    )
    actions = [(i, a) for i, (_, a, _) in enumerate(steps) if a is not Action.NONE]
    # restarts at minutes 1, 2 (1 min), 4 (2 min), 8 (4 min)
    assert actions == [(1, Action.START), (2, Action.START), (4, Action.START), (8, Action.START)]
    record = steps[8][0]
    assert record.restart_attempts == 4
    assert record.health.recognition is RecognitionState.RESTARTING
    assert record.health.status is Overall.DEGRADED
    assert "Access denied to Role" in record.health.reason
    # only the RUNNING -> RESTARTING change is an event, not every retry
    assert [i for i, (_, _, changed) in enumerate(steps) if changed] == [0, 1]


def test_backoff_is_capped() -> None:
    assert Policy().backoff(1) == timedelta(minutes=1)
    assert Policy().backoff(5) == timedelta(minutes=16)
    assert Policy().backoff(50) == timedelta(minutes=30)


def test_recovery_resets_attempts_and_publishes() -> None:
    steps = run(
        [
            obs(T0, status="FAILED"),
            obs(T0 + timedelta(minutes=1), status="STARTING"),
            obs(T0 + timedelta(minutes=2), status="RUNNING"),
        ]
    )
    assert steps[0][1] is Action.START
    assert steps[1][0].health.recognition is RecognitionState.RESTARTING  # still recovering
    assert steps[1][2] is False
    final = steps[2][0]
    assert final.health.recognition is RecognitionState.RUNNING and steps[2][2] is True
    assert final.restart_attempts == 0 and final.next_restart_at is None


def test_stopped_while_schedule_says_running_is_started() -> None:
    ((_, action, _),) = run([obs(T0, status="STOPPED")])
    assert action is Action.START


def test_stuck_in_starting_for_more_than_two_minutes_is_recreated() -> None:
    steps = run(
        [
            obs(T0, status="STARTING"),
            obs(T0 + timedelta(minutes=2), status="STARTING"),  # exactly 2 min: still waiting
            obs(T0 + timedelta(minutes=2, seconds=1), status="STARTING"),
            obs(T0 + timedelta(minutes=3), status="STARTING"),  # the new one gets its own 2 min
        ]
    )
    assert [a for _, a, _ in steps] == [Action.NONE, Action.NONE, Action.RECREATE, Action.NONE]
    assert steps[2][0].health.recognition is RecognitionState.RECREATING
    assert steps[3][0].health.recognition is RecognitionState.RECREATING


def test_processor_outside_its_hours_is_stopped_and_idle() -> None:
    steps = run(
        [
            obs(T0),
            obs(T0 + timedelta(minutes=1), active=False, fragment_age=None),
            obs(T0 + timedelta(minutes=2), active=False, status="STOPPED", fragment_age=None),
        ]
    )
    assert steps[1][1] is Action.STOP
    assert steps[1][0].health.status is Overall.IDLE
    assert steps[1][0].health.video is VideoState.OFF_SCHEDULE
    assert steps[2][1] is Action.NONE and steps[2][2] is False
    # a FAILED processor outside its hours is not restarted either
    ((_, action, _),) = run([obs(T0, active=False, status="FAILED")])
    assert action is Action.NONE


def test_camera_goes_offline_after_the_window_and_comes_back() -> None:
    fifteen = timedelta(minutes=15)
    steps = run(
        [
            obs(T0),
            obs(T0 + timedelta(minutes=10), fragment_age=timedelta(minutes=10)),
            obs(T0 + timedelta(minutes=16), fragment_age=fifteen + timedelta(seconds=1)),
            obs(T0 + timedelta(minutes=17), fragment_age=timedelta(seconds=3)),
        ]
    )
    assert [r.health.video for r, _, _ in steps] == [
        VideoState.ONLINE,
        VideoState.ONLINE,
        VideoState.OFFLINE,
        VideoState.ONLINE,
    ]
    assert steps[2][0].health.status is Overall.DOWN and steps[2][2] is True
    assert "no video fragment for 15 min" in steps[2][0].health.reason
    assert steps[2][0].health.last_fragment_at == "2026-11-25T09:00:59.000Z"
    assert steps[3][2] is True


def test_no_false_offline_right_after_the_schedule_starts() -> None:
    steps = run(
        [
            obs(T0, active=False, fragment_age=None, status="STOPPED"),
            obs(T0 + timedelta(minutes=1), fragment_age=None, status="STARTING"),
            obs(T0 + timedelta(minutes=15), fragment_age=None, status="RUNNING"),
            obs(T0 + timedelta(minutes=16), fragment_age=None, status="RUNNING"),
        ]
    )
    assert [r.health.video for r, _, _ in steps] == [
        VideoState.OFF_SCHEDULE,
        VideoState.OFF_SCHEDULE,
        VideoState.OFF_SCHEDULE,
        VideoState.OFFLINE,
    ]


def test_missing_stream_and_missing_processor_are_down() -> None:
    observation = Observation(
        now=T0,
        schedule_active=True,
        stream_exists=False,
        processor=ProcessorView(name="p", status=None),
    )
    decision = decide("cam", observation, None, POLICY)
    assert decision.record.health.video is VideoState.MISSING
    assert decision.record.health.recognition is RecognitionState.MISSING
    assert decision.record.health.status is Overall.DOWN
    assert decision.action is Action.NONE


def test_sampler_camera_has_no_recognition_state() -> None:
    ((record, action, _),) = run([obs(T0, processor=False)])
    assert record.health.recognition is RecognitionState.NOT_APPLICABLE
    assert record.health.status is Overall.HEALTHY and action is Action.NONE


def test_transitional_states_keep_the_previous_state() -> None:
    steps = run([obs(T0), obs(T0 + timedelta(minutes=1), status="UPDATING")])
    assert steps[1][0].health.recognition is RecognitionState.RUNNING
    assert steps[1][1] is Action.NONE


# ---- the tick, with in-memory fakes of our own ports -----------------------------------------
def camera(cam: str, processor: str | None = None) -> CameraInfo:
    return CameraInfo(
        camera_id=cam,
        site_id="seoul-hq",
        site_name="Seoul HQ",
        zone="Lobby",
        display_name=cam,
        time_zone="Asia/Seoul",
        detector=Detector.STREAM_PROCESSOR if processor else Detector.SAMPLER,
        processor_name=processor,
    )


def make_watchdog() -> tuple[Watchdog, FakeFragments, FakeProcessors, FakeStore, FakePublisher]:
    f, p, s, pub = FakeFragments(), FakeProcessors(), FakeStore(), FakePublisher()
    return Watchdog(fragments=f, processors=p, store=s, publisher=pub, workers=2), f, p, s, pub


def test_tick_restarts_publishes_and_stores_every_change() -> None:
    dog, frags, procs, store, pub = make_watchdog()
    cams = [camera("lobby", "sp-lobby"), camera("dock")]
    frags.last = {"lobby": T0, "dock": T0}
    procs.status = {"sp-lobby": "RUNNING"}
    first = dog.tick(cams, T0)
    assert first.changes == 2 and len(pub.events) == 2
    procs.status["sp-lobby"] = "FAILED"
    second = dog.tick(cams, T0 + timedelta(minutes=1))
    assert procs.calls == [("start", "sp-lobby")]
    assert second.actions == {Action.START: 1} and second.changes == 1
    event = pub.events[-1]
    assert event.camera_id == "lobby" and event.site_name == "Seoul HQ"
    assert event.previous is not None and event.previous.recognition is RecognitionState.RUNNING
    assert event.current.recognition is RecognitionState.RESTARTING
    assert len(store.history) == 3
    third = dog.tick(cams, T0 + timedelta(minutes=1, seconds=30))  # nothing new
    assert third.changes == 0 and len(pub.events) == 3


def test_unpublished_change_is_not_stored_and_is_published_next_tick() -> None:
    dog, frags, _procs, store, pub = make_watchdog()
    cams = [camera("dock")]
    frags.last = {"dock": T0}
    pub.reject = {"dock"}
    summary = dog.tick(cams, T0)
    assert summary.unpublished == 1 and store.current == {} and pub.events == []
    pub.reject = set()
    summary = dog.tick(cams, T0 + timedelta(minutes=1))
    assert summary.changes == 1 and len(pub.events) == 1 and "dock" in store.current


def test_one_broken_camera_does_not_stop_the_others() -> None:
    dog, frags, _procs, store, _pub = make_watchdog()
    frags.missing = {"gone"}
    summary = dog.tick([camera("broken"), camera("gone")], T0)
    assert summary.observe_errors == 1
    assert store.current["gone"].health.video is VideoState.MISSING


def test_failed_restart_is_counted_and_retried_after_backoff() -> None:
    dog, _frags, procs, store, _pub = make_watchdog()
    procs.status = {"sp": "FAILED"}
    procs.fail_start = True
    summary = dog.tick([camera("lobby", "sp")], T0)
    assert summary.action_errors == 1
    assert store.current["lobby"].next_restart_at == T0 + timedelta(minutes=1)
    dog.tick([camera("lobby", "sp")], T0 + timedelta(seconds=30))
    assert len(procs.calls) == 1  # backoff respected


def test_schedule_start_is_a_normal_start_not_a_recovery() -> None:
    minute = timedelta(minutes=1)
    steps = run(
        [
            obs(T0, active=False, status="STOPPED", fragment_age=None),
            obs(T0 + minute, status="STOPPED", fragment_age=None),
            obs(T0 + 2 * minute, status="STARTING", fragment_age=None),
            obs(T0 + 3 * minute, status="RUNNING"),
        ]
    )
    assert [a for _, a, _ in steps] == [Action.NONE, Action.START, Action.NONE, Action.NONE]
    assert [r.health.recognition for r, _, _ in steps] == [
        RecognitionState.IDLE,
        RecognitionState.STARTING,
        RecognitionState.STARTING,
        RecognitionState.RUNNING,
    ]
    assert [r.health.status for r, _, _ in steps] == [
        Overall.IDLE,
        Overall.IDLE,
        Overall.IDLE,
        Overall.HEALTHY,
    ]
    assert steps[1][0].restart_attempts == 0


def test_a_start_that_fails_after_opening_time_becomes_a_recovery() -> None:
    steps = run(
        [
            obs(T0, active=False, status="STOPPED"),
            obs(T0 + timedelta(minutes=1), status="STOPPED"),
            obs(T0 + timedelta(minutes=2), status="FAILED", message="Stream not found"),
        ]
    )
    assert steps[2][1] is Action.START
    assert steps[2][0].health.recognition is RecognitionState.RESTARTING
    assert steps[2][0].health.status is Overall.DEGRADED


def test_recreate_respects_the_backoff() -> None:
    minute = timedelta(minutes=1)
    steps = run([obs(T0 + minute * i, status="STARTING") for i in range(0, 9)])
    recreates = [i for i, (_, a, _) in enumerate(steps) if a is Action.RECREATE]
    # stuck > 2 min at minute 3; then the new one is stuck again but waits out the backoff
    assert recreates == [3, 6]
    assert steps[6][0].restart_attempts == 2


def test_a_bad_setting_names_its_variable() -> None:
    from facewatch.fleet.watchdog import WatchdogSettings  # noqa: PLC0415
    from facewatch.settings import SettingsError  # noqa: PLC0415

    env = {"TABLE_NAME": "tbl", "EVENT_BUS_NAME": "bus", "CAMERA_OFFLINE_MINUTES": "soon"}
    with pytest.raises(SettingsError, match="CAMERA_OFFLINE_MINUTES"):
        WatchdogSettings.from_env(env)
