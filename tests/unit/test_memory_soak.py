"""The memory soak's arithmetic on made-up series: the slope fit, the flatness verdict against its
threshold, fill times and the open loop's falling behind (``benchmarks.memory_soak_stats``)."""

from __future__ import annotations

import math

import pytest

from benchmarks.memory_soak_stats import behind, fill_time, flatness, per_second, sliding, slope

LEVEL = 60_000_000.0


def test_slope_recovers_a_line() -> None:
    ts = [float(t) for t in range(100)]
    assert slope(ts, [3.5 * t + 7 for t in ts]) == pytest.approx(3.5)
    assert slope([1.0], [5.0]) == 0.0
    assert slope([2.0, 2.0], [1.0, 9.0]) == 0.0


def test_a_level_sawtooth_is_flat() -> None:
    """Buckets expiring whole make a sawtooth (here 8 s period, 5 % deep) with no trend: flat."""
    ts = [t * 0.5 for t in range(480)]
    ys = [LEVEL * (1 + 0.05 * ((t % 8) / 8 - 0.5)) for t in ts]
    v = flatness(ts, ys, 0.0, 240.0)
    assert v["flat"] is True
    assert abs(v["slope_pct_of_level_per_min"]) < 0.2


def test_growth_just_over_the_threshold_is_not_flat() -> None:
    """1.2 % of the level per minute (threshold 1 %) is growth; 0.8 % is within it."""
    ts = [float(t) for t in range(240)]
    for pct, flat in ((1.2, False), (-1.2, False), (0.8, True), (-0.8, True)):
        per_s = LEVEL * pct / 100 / 60
        ys = [LEVEL + per_s * (t - 120) for t in ts]
        v = flatness(ts, ys, 0.0, 240.0)
        assert v["slope_pct_of_level_per_min"] == pytest.approx(pct, rel=1e-3)
        assert v["flat"] is flat


def test_flatness_judges_only_its_span() -> None:
    """A steep fill before the span does not count; the span's own points do."""
    ts = [float(t) for t in range(300)]
    ys = [LEVEL * min(1.0, t / 70) for t in ts]
    assert flatness(ts, ys, 180.0, 300.0)["flat"] is True
    assert flatness(ts, ys, 0.0, 70.0)["flat"] is False
    assert flatness(ts, ys, 0.0, 1.0)["flat"] is None  # two points: nothing to judge


def test_fill_time_is_first_reach_of_the_share_of_the_level() -> None:
    ts = [float(t) for t in range(100)]
    ys = [min(1000.0, 20.0 * t) for t in ts]  # 1,000 from t = 50
    assert fill_time(ts, ys, 1000.0) == 48.0  # 95 %: 960 at t = 48
    assert fill_time(ts, ys, 1000.0, fraction=1.0) == 50.0
    assert fill_time(ts, ys, 5000.0) is None
    assert fill_time(ts, ys, 0.0) is None


def test_per_second_and_behind() -> None:
    sent = [(100.0 + i * 0.02, 20) for i in range(250)]  # 1,000/s for 5 s
    offered = per_second(sent, 100.0, 6)
    assert offered[:5] == [1000] * 5 and offered[5] == 0
    assert behind(offered, offered, 1000)["first_behind_s"] is None
    slow = [600] * 5 + [0]  # 400/s short: more than a second's load undecided after the third second
    b = behind(offered, slow, 1000)
    assert b["first_behind_s"] == 2
    assert b["max_undecided_orders"] == 2000
    assert math.isclose(b["threshold_orders"], 1000)


def test_sliding_spans_show_a_passing_bump() -> None:
    """A level series with a backlog that builds and drains in the middle: the spans over its rise
    are not flat, the last one (after it drained) is; each span ends ``step`` before the next."""
    ts = [float(t) for t in range(300)]
    ys = [LEVEL + (LEVEL * 0.1 * (t - 150) / 40 if 150 <= t < 190 else 0.0) for t in ts]
    out = sliding(ts, ys, 70.0, 300.0, 100.0, 10.0)
    assert out["rows"][-1]["to_s"] == 300.0 and out["rows"][0]["from_s"] >= 70.0
    assert out["spans"] == len(out["rows"]) == 14
    assert 0 < out["flat_spans"] < out["spans"]
    lo, hi = out["pct_per_min_min_max"]
    assert lo < -1.0 and hi > 1.0
    assert out["rows"][-1]["flat"] is True
