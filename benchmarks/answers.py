"""What a load phase's answers add up to: rates and latency percentiles, and a timeline by send time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

Answer = tuple[float, float, int]
"""(scheduled send time, latency, HTTP status; 0 = connection lost, -1 = never answered)."""


def pct(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile (0..1) of sorted ``values``, rounded to 0.01; 0.0 when empty."""
    return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else 0.0


def summary(
    latencies: Sequence[float], status: Counter[int], elapsed: float, rate: float | None, lag: Sequence[float]
) -> dict[str, Any]:
    """One phase's figures: answers by status, accepted (200) per second, latency p50/p99/max in ms,
    and how late the generator itself sent (p99 of ``lag``)."""
    ms = sorted(x * 1000 for x in latencies)
    lag_ms = sorted(x * 1000 for x in lag)
    return {
        "offered_per_s": rate,
        "answered": len(ms),
        "ok": status[200],
        "statuses": {str(k): v for k, v in sorted(status.items())},
        "accepted_per_s": round(status[200] / elapsed, 1),
        "p50_ms": pct(ms, 0.50),
        "p99_ms": pct(ms, 0.99),
        "max_ms": round(ms[-1], 2) if ms else 0.0,
        "send_lag_p99_ms": pct(lag_ms, 0.99),
    }


def timeline(
    answers: Sequence[Answer], t0: float, bucket_s: float, slow_ms: float = 100.0
) -> list[dict[str, Any]]:
    """Answers grouped by when they were due to be sent, ``bucket_s`` wide, from ``t0``: per bucket
    its start (seconds after ``t0``), requests, answers other than 200, answers slower than
    ``slow_ms``, latency p50/p99/max (ms)."""
    buckets: dict[int, list[Answer]] = {}
    for answer in answers:
        buckets.setdefault(int((answer[0] - t0) / bucket_s), []).append(answer)
    out = []
    for i in sorted(buckets):
        ms = sorted(a[1] * 1000 for a in buckets[i])
        out.append(
            {
                "t": round(i * bucket_s, 3),
                "sent": len(ms),
                "not_200": sum(1 for a in buckets[i] if a[2] != 200),
                "slow": sum(1 for x in ms if x > slow_ms),
                "p50_ms": pct(ms, 0.5),
                "p99_ms": pct(ms, 0.99),
                "max_ms": round(ms[-1], 2),
            }
        )
    return out
