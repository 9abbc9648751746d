from __future__ import annotations

import pytest
from pydantic import ValidationError

from facewatch_tools.proxy.backoff import Backoff, BackoffPolicy


def test_delays_grow_exponentially_up_to_the_bound_with_the_top_of_the_jitter() -> None:
    backoff = Backoff(BackoffPolicy(initial=1, factor=2, maximum=10), uniform=lambda lo, hi: hi)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]


def test_jitter_draws_between_half_and_the_whole_ceiling() -> None:
    calls: list[tuple[float, float]] = []

    def low(lo: float, hi: float) -> float:
        calls.append((lo, hi))
        return lo

    backoff = Backoff(BackoffPolicy(initial=1, factor=3, maximum=20), uniform=low)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.5, 4.5, 10]
    assert calls == [(0.5, 1), (1.5, 3), (4.5, 9), (10, 20)]


def test_a_misbehaving_random_source_cannot_break_the_bound() -> None:
    backoff = Backoff(BackoffPolicy(initial=1, maximum=5), uniform=lambda lo, hi: hi * 100)
    assert max(backoff.next_delay() for _ in range(10)) == 5
    backoff = Backoff(BackoffPolicy(initial=1, maximum=5), uniform=lambda lo, hi: -1)
    assert min(backoff.next_delay() for _ in range(10)) == 0.5


def test_real_jitter_stays_within_the_bound() -> None:
    backoff = Backoff(BackoffPolicy(initial=0.5, maximum=4))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.25 <= d <= 4 for d in delays)
    assert len(set(delays[10:])) > 1  # jittered, not constant


def test_a_long_healthy_run_resets_the_backoff_and_a_short_one_does_not() -> None:
    backoff = Backoff(BackoffPolicy(initial=1, maximum=60, reset_after=30), uniform=lambda a, b: b)
    for _ in range(4):
        backoff.next_delay()
    backoff.streamed_for(5)
    assert backoff.next_delay() == 16
    backoff.streamed_for(30)
    assert backoff.next_delay() == 1


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = BackoffPolicy(initial=1, factor=10, maximum=30)
    assert policy.ceiling(10_000) == 30


def test_policy_rejects_an_initial_delay_above_the_maximum() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        BackoffPolicy(initial=10, maximum=1)
