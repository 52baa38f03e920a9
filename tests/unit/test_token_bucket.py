"""TokenBucket: refill arithmetic, oversized costs, pauses, corrections, and rate-bound properties."""

from __future__ import annotations

import math

import pytest
from clock import FakeClock
from hypothesis import given
from hypothesis import strategies as st

from engine.token_bucket import BucketState, Limits, TokenBucket, refill, take, wait

# Per-grant float slack allowed by the bucket (engine.token_bucket._EPS) plus rounding.
SLACK = 1e-6


def make(rate: float = 10.0, burst: float = 20.0, safety: float = 1.0) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(rate, burst, clock, safety=safety), clock


def test_starts_full_and_drains() -> None:
    bucket, _ = make(rate=10, burst=20)
    assert bucket.available == 20
    assert bucket.try_take(15)
    assert not bucket.try_take(6)
    assert bucket.available == pytest.approx(5)


def test_refills_at_rate_up_to_burst() -> None:
    bucket, clock = make(rate=10, burst=20)
    assert bucket.try_take(20)
    clock.advance(0.5)
    assert bucket.available == pytest.approx(5)
    clock.advance(100)
    assert bucket.available == 20


def test_wait_time_is_exact_and_then_take_succeeds() -> None:
    bucket, clock = make(rate=10, burst=20)
    assert bucket.wait_time(20) == 0
    assert bucket.try_take(20)
    assert bucket.wait_time(4) == pytest.approx(0.4)
    clock.advance(0.39)
    assert not bucket.try_take(4)
    clock.advance(bucket.wait_time(4))
    assert bucket.try_take(4)


def test_refused_take_spends_nothing() -> None:
    bucket, _ = make(rate=10, burst=20)
    assert bucket.try_take(15)
    assert not bucket.try_take(10)
    assert bucket.available == pytest.approx(5)


def test_safety_scales_rate_and_capacity() -> None:
    bucket, clock = make(rate=100, burst=1000, safety=0.5)
    assert bucket.limits == Limits(rate=50, capacity=500)
    assert bucket.available == 500
    assert bucket.try_take(500)
    clock.advance(1)
    assert bucket.available == pytest.approx(50)


def test_oversized_cost_granted_only_when_full_and_leaves_debt() -> None:
    bucket, clock = make(rate=10, burst=20)
    assert bucket.try_take(1)
    assert not bucket.try_take(50)
    assert bucket.wait_time(50) == pytest.approx(0.1)  # until full, not until 50 tokens exist
    clock.advance(0.1)
    assert bucket.try_take(50)
    assert bucket.available == pytest.approx(-30)
    assert bucket.wait_time(1) == pytest.approx(3.1)  # the debt is repaid before anything else


def test_zero_cost_is_free_unless_paused() -> None:
    bucket, _ = make()
    assert bucket.try_take(20)
    assert bucket.try_take(0)
    bucket.pause_for(1)
    assert not bucket.try_take(0)


def test_pause_blocks_grants_and_drains() -> None:
    bucket, clock = make(rate=10, burst=20)
    bucket.pause_for(2)
    assert bucket.available == 0  # a 429 means the channel's budget is spent
    assert bucket.wait_time(1) == pytest.approx(2)
    clock.advance(1.999)
    assert not bucket.try_take(1)
    clock.advance(0.001)
    assert bucket.available == pytest.approx(20)  # refilled during the pause
    assert bucket.try_take(1)


def test_pause_without_drain_keeps_tokens() -> None:
    bucket, clock = make(rate=10, burst=20)
    bucket.pause_for(1, drain=False)
    assert bucket.available == 20
    assert not bucket.try_take(1)
    clock.advance(1)
    assert bucket.try_take(20)


def test_shorter_pause_never_shortens_a_longer_one() -> None:
    bucket, clock = make()
    bucket.pause_until(clock.now + 5)
    bucket.pause_for(1)
    assert bucket.paused_until == clock.now + 5
    assert bucket.wait_time(1) == pytest.approx(5)


def test_wait_time_counts_both_pause_and_deficit() -> None:
    bucket, _ = make(rate=1, burst=10)
    bucket.pause_for(2)
    assert bucket.wait_time(5) == pytest.approx(5)  # drained: 5 tokens need 5 s, longer than the pause


def test_correct_lowers_and_raises_to_the_reported_value() -> None:
    bucket, _ = make(rate=50, burst=1000)
    bucket.correct(300)
    assert bucket.available == 300
    assert bucket.try_take(300)
    bucket.correct(900)
    assert bucket.available == 900


def test_correct_caps_reported_value_at_capacity() -> None:
    bucket, _ = make(rate=100, burst=1000, safety=0.8)
    bucket.correct(1000, capacity=1000, restore_per_s=100)
    assert bucket.available == 800


def test_correct_adopts_capacity_and_rate() -> None:
    bucket, clock = make(rate=50, burst=1000)
    bucket.correct(0, capacity=2000, restore_per_s=100)
    assert bucket.limits == Limits(rate=100, capacity=2000)
    assert bucket.wait_time(100) == pytest.approx(1)
    clock.advance(60)
    assert bucket.available == 2000


def test_correct_capacity_alone_keeps_tokens_but_never_above_new_capacity() -> None:
    bucket, _ = make(rate=10, burst=40)
    bucket.correct(None, capacity=10)
    assert bucket.available == 10
    bucket.correct(None, capacity=100)
    assert bucket.available == 10


def test_reconfigure() -> None:
    bucket, clock = make(rate=10, burst=20)
    bucket.reconfigure(1, 5)
    assert bucket.limits == Limits(rate=1, capacity=5)
    assert bucket.available == 5
    assert bucket.try_take(5)
    clock.advance(1)
    assert bucket.available == pytest.approx(1)


@pytest.mark.parametrize(
    ("rate", "burst", "safety"), [(0, 1, 1), (1, 0, 1), (-1, 1, 1), (1, math.inf, 1), (1, 1, 0), (1, 1, 1.5)]
)
def test_rejects_bad_limits(rate: float, burst: float, safety: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, FakeClock(), safety=safety)


def test_rejects_bad_arguments() -> None:
    bucket, _ = make()
    with pytest.raises(ValueError):
        bucket.try_take(-1)
    with pytest.raises(ValueError):
        bucket.wait_time(-1)
    with pytest.raises(ValueError):
        bucket.correct(math.nan)
    with pytest.raises(ValueError, match="restore_per_s"):
        bucket.correct(None, restore_per_s=0)
    with pytest.raises(ValueError, match="burst"):
        bucket.reconfigure(1, -1)


def test_clock_stepping_back_neither_refills_nor_drains() -> None:
    bucket, clock = make(rate=10, burst=20)
    assert bucket.try_take(10)
    clock.now -= 5
    assert bucket.available == pytest.approx(10)


def test_pure_functions_leave_state_untouched() -> None:
    limits = Limits(rate=2, capacity=4)
    state = BucketState(tokens=1, at=0)
    new, granted = take(state, limits, 1.0, 3)
    assert granted and new == BucketState(tokens=0, at=1.0)
    assert state == BucketState(tokens=1, at=0)
    assert refill(state, limits, 10) == BucketState(tokens=4, at=10)
    assert wait(state, limits, 0, 2) == pytest.approx(0.5)


# --- properties --------------------------------------------------------------------------------

Limits3 = tuple[float, float, float]
Step = tuple[float | None, float, float | None]

limits_st = st.tuples(
    st.floats(0.1, 1000),  # rate per second
    st.floats(1, 1000),  # burst
    st.floats(0.1, 1),  # safety
)
# Each step: how long to wait (in units of burst/rate, or exactly wait_time when None), what to take
# (as a fraction of the effective capacity), and sometimes a 429 pause (in units of burst/rate).
step_st = st.tuples(
    st.one_of(st.none(), st.floats(0, 2)), st.floats(0.001, 1), st.one_of(st.none(), st.floats(0, 1))
)


def run_schedule(
    limits: Limits3, steps: list[Step], scale: float = 1
) -> tuple[TokenBucket, FakeClock, list[tuple[float, float]]]:
    """Drive a bucket through ``steps``; return it and the (time, cost) of every grant."""
    rate, burst, safety = limits
    bucket, clock = make(rate, burst, safety)
    unit = burst / rate
    grants = []
    for wait_units, fraction, pause_units in steps:
        cost = fraction * bucket.limits.capacity * scale
        clock.advance(bucket.wait_time(cost) if wait_units is None else wait_units * unit)
        if pause_units is not None:
            bucket.pause_for(pause_units * unit)
        if bucket.try_take(cost):
            grants.append((clock.now, cost))
    return bucket, clock, grants


def max_excess(grants: list[tuple[float, float]], rate: float, burst: float) -> float:
    """The largest (granted in [t_i, t_j]) - (burst + rate * (t_j - t_i)) over all grant windows."""
    worst = -math.inf
    for i, (start, _) in enumerate(grants):
        total = 0.0
        for end, cost in grants[i:]:
            total += cost
            worst = max(worst, total - (burst + rate * (end - start)))
    return worst


@given(limits_st, st.lists(step_st, max_size=40))
def test_grants_in_any_window_stay_within_burst_plus_rate(limits: Limits3, steps: list[Step]) -> None:
    bucket, _, grants = run_schedule(limits, steps)
    eff = bucket.limits
    assert max_excess(grants, eff.rate, eff.capacity) <= SLACK * (len(grants) + 1)


@given(limits_st, st.lists(step_st, max_size=40))
def test_oversized_costs_exceed_the_bound_by_at_most_the_largest_excess(
    limits: Limits3, steps: list[Step]
) -> None:
    bucket, _, grants = run_schedule(limits, steps, scale=3)
    eff = bucket.limits
    overshoot = max((cost - eff.capacity for _, cost in grants), default=0.0)
    bound = eff.capacity + max(0.0, overshoot)
    assert max_excess(grants, eff.rate, bound) <= SLACK * (len(grants) + 1)


@given(limits_st, st.lists(step_st, max_size=20), st.floats(0, 3))
def test_waiting_wait_time_always_lets_the_take_through(
    limits: Limits3, steps: list[Step], fraction: float
) -> None:
    bucket, clock, _ = run_schedule(limits, steps, scale=3)
    cost = fraction * limits[1]
    waited = bucket.wait_time(cost)
    if waited == 0:
        assert bucket.try_take(cost)
    else:
        assert not bucket.try_take(cost)
        clock.advance(waited)
        assert bucket.try_take(cost)


@given(limits_st, st.floats(0.001, 100), st.lists(st.floats(0, 1), max_size=20), st.booleans())
def test_pause_for_blocks_every_grant_until_it_passes(
    limits: Limits3, pause: float, advances: list[float], drain: bool
) -> None:
    rate, burst, safety = limits
    bucket, clock = make(rate, burst, safety)
    end = clock.now + pause
    bucket.pause_for(pause, drain=drain)
    for fraction in advances:
        clock.advance(fraction * (end - clock.now))  # always stays short of the end
        if clock.now < end:
            assert not bucket.try_take(0)
            assert bucket.wait_time(0) >= end - clock.now
    clock.advance(bucket.wait_time(0))
    assert clock.now >= end
    assert bucket.try_take(0)


@given(
    limits_st,
    st.lists(step_st, max_size=20),
    st.floats(-1000, 5000),
    st.one_of(st.none(), st.floats(1, 5000)),
    st.one_of(st.none(), st.floats(0.1, 1000)),
)
def test_correct_never_raises_available_above_the_report(
    limits: Limits3, steps: list[Step], reported: float, capacity: float | None, rate: float | None
) -> None:
    bucket, _, _ = run_schedule(limits, steps)
    bucket.correct(reported, capacity=capacity, restore_per_s=rate)
    assert bucket.available <= reported
    assert bucket.available <= bucket.limits.capacity
    if capacity is not None:
        assert bucket.limits.capacity == pytest.approx(capacity * limits[2])
