"""The memory soak's arithmetic, free of Redis and clocks so it can be tested on made-up series:
a least-squares slope, the flatness verdict, when a series filled, per-second rates of the open loop.

The verdict is a number against a stated threshold: a series is flat over ``[start, end]`` when the
least-squares slope there, as a percentage of the series' mean level per minute, is within
``threshold_pct_per_min`` either way. A sawtooth (time buckets that expire whole) has no slope on
average, so the fit needs a span of several periods, not the series' every point to stay level.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

FLAT_PCT_PER_MIN = 1.0
"""Default threshold: |slope| below 1 % of the level per minute (a 60 MB Redis moving < 0.6 MB/min)."""
FILL_FRACTION = 0.95
"""A series has filled when it first reaches this share of its steady (tail) level."""


def slope(ts: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` over ``ts`` (units of y per unit of t); 0 with < 2 points."""
    if len(ts) < 2:
        return 0.0
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var


def between(
    ts: Sequence[float], ys: Sequence[float], start: float, end: float
) -> tuple[list[float], list[float]]:
    """The points with ``start <= t <= end``."""
    pts = [(t, y) for t, y in zip(ts, ys, strict=True) if start <= t <= end]
    return [t for t, _ in pts], [y for _, y in pts]


def flatness(
    ts: Sequence[float],
    ys: Sequence[float],
    start: float,
    end: float,
    threshold_pct_per_min: float = FLAT_PCT_PER_MIN,
) -> dict[str, Any]:
    """Slope over ``[start, end]`` in bytes/s and in % of the mean level there per minute, and the
    verdict ``flat``: ``|pct_per_min| < threshold_pct_per_min`` (None with fewer than 3 points or
    no level, where there is nothing to judge)."""
    t, y = between(ts, ys, start, end)
    if len(t) < 3:
        return {"from_s": start, "to_s": end, "points": len(t), "flat": None}
    s, level = slope(t, y), statistics.fmean(y)
    pct = s * 60 / level * 100 if level > 0 else None
    return {
        "from_s": round(start, 1), "to_s": round(end, 1), "points": len(t),
        "level_bytes": round(level), "min_bytes": round(min(y)), "max_bytes": round(max(y)),
        "slope_bytes_per_s": round(s, 1),
        "slope_pct_of_level_per_min": None if pct is None else round(pct, 3),
        "threshold_pct_per_min": threshold_pct_per_min,
        "flat": None if pct is None else abs(pct) < threshold_pct_per_min,
    }  # fmt: skip


def sliding(
    ts: Sequence[float],
    ys: Sequence[float],
    start: float,
    end: float,
    span: float,
    step: float,
    threshold_pct_per_min: float = FLAT_PCT_PER_MIN,
) -> dict[str, Any]:
    """``flatness`` over every ``span`` that ends at ``end``, ``end - step``, ... and starts at or
    after ``start``: how much the verdict depends on where its span falls (a backlog that comes
    and goes, a sawtooth against the span's length)."""
    rows, k = [], 0
    while end - k * step - span >= start - 1e-9 and step > 0:
        b = end - k * step
        f = flatness(ts, ys, b - span, b, threshold_pct_per_min)
        pct = f.get("slope_pct_of_level_per_min")
        rows.append({"from_s": f["from_s"], "to_s": f["to_s"], "pct_per_min": pct, "flat": f["flat"]})
        k += 1
    pcts = [r["pct_per_min"] for r in rows if r["pct_per_min"] is not None]
    return {
        "span_s": round(span, 1), "step_s": step, "spans": len(rows),
        "flat_spans": sum(r["flat"] is True for r in rows),
        "pct_per_min_min_max": [min(pcts), max(pcts)] if pcts else None, "rows": rows[::-1],
    }  # fmt: skip


def fill_time(
    ts: Sequence[float], ys: Sequence[float], level: float, fraction: float = FILL_FRACTION
) -> float | None:
    """The first ``t`` at which ``ys`` reached ``fraction`` of ``level`` (its steady level), or
    None if it never did (or there is no level to reach)."""
    if level <= 0:
        return None
    return next((t for t, y in zip(ts, ys, strict=True) if y >= fraction * level), None)


def per_second(events: Sequence[tuple[float, int]], t0: float, seconds: int) -> list[int]:
    """Counts summed into whole seconds after ``t0`` (``events``: (time, count)), ``seconds`` of them;
    what falls outside is left out."""
    out = [0] * seconds
    for t, n in events:
        i = int(t - t0)
        if 0 <= i < seconds:
            out[i] += n
    return out


def behind(offered: Sequence[int], decided: Sequence[int], rate: float) -> dict[str, Any]:
    """How far the decisions fell behind the open loop's offer: orders offered but not yet decided
    at the end of each second; ``first_behind_s`` is the first second that ended with more than one
    second of offered load undecided (None: never)."""
    backlog, worst, first = 0, 0, None
    for i, (o, d) in enumerate(zip(offered, decided, strict=True)):
        backlog += o - d
        worst = max(worst, backlog)
        if first is None and backlog > rate:
            first = i
    return {"max_undecided_orders": worst, "first_behind_s": first, "threshold_orders": rate}


def quantiles(xs: Sequence[float]) -> dict[str, float | int]:
    if not xs:
        return {"n": 0}
    s = sorted(xs)
    pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))], 3)  # noqa: E731
    return {"n": len(s), "p50": pick(0.5), "p99": pick(0.99), "max": round(s[-1], 3)}
