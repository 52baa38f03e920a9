"""The memory soak's figures from one phase's raw samples: levels, slopes, verdict, fill times,
bytes per order in steady state, decisions achieved against offered, the archiver's lag."""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any

from benchmarks.memory_soak_stats import behind, between, fill_time, flatness, per_second, quantiles, sliding
from engine.config import HistoryConfig
from engine.store.idem_layout import IDEM_BUCKETS
from engine.store.order_windows import MARKER_BUCKETS, ORDER_BUCKETS, bucket_span

if TYPE_CHECKING:
    from benchmarks.memory_soak import Settings

SLIDE_S = 10.0
"""Step between the spans ``verdict_sliding`` judges (each as long as the verdict's)."""
KINDS = ("idempotency", "order", "marker", "audit", "stock", "other")
STREAM_NODE = 100
"""Redis's ``stream-node-max-entries`` default: ``MAXLEN ~`` trims whole nodes, so up to this many
entries a stream beyond its cap."""


def lifetimes(s: Settings, history: bool, vshards: int, maxlen: int) -> dict[str, dict[str, float]]:
    """How long a record of each kind stays, as configured: ``longest_s`` (when the kind is full)
    and ``mean_s`` (what a steady level is divided by for bytes per order)."""
    idem_b, mark_b = bucket_span(s.idem_s, IDEM_BUCKETS), bucket_span(s.marker_s, MARKER_BUCKETS)
    # order records live in buckets of their retention window too (engine.store.order_records)
    order_b = bucket_span(s.retention_s, ORDER_BUCKETS)
    out: dict[str, dict[str, float]] = {
        "idempotency": {"window_s": s.idem_s, "bucket_s": idem_b, "longest_s": s.idem_s + idem_b,
                        "mean_s": s.idem_s + idem_b / 2},
        "order": {"window_s": s.retention_s, "bucket_s": order_b, "longest_s": s.retention_s + order_b,
                  "mean_s": s.retention_s + order_b / 2},
        "marker": {"window_s": s.marker_s, "bucket_s": mark_b, "longest_s": s.marker_s + mark_b,
                   "mean_s": s.marker_s + mark_b / 2},
    }  # fmt: skip
    if history:
        # trimmed by the first round after keep_s: rounds pause interval_s once caught up
        pause = HistoryConfig().interval_s
        out["audit"] = {"window_s": s.keep_s, "longest_s": s.keep_s + pause, "mean_s": s.keep_s + pause / 2}
    else:
        cap = vshards * (maxlen + STREAM_NODE)
        out["audit"] = {"cap_entries_at_most": cap, "longest_s": round(cap / s.rate, 1)}
    return out


def kind_series(samples: list[dict[str, Any]], t0: float) -> tuple[list[float], dict[str, list[int]]]:
    rows = [x for x in samples if "kinds" in x]
    ts = [x["t"] - t0 for x in rows]
    return ts, {k: [x["kinds"].get(k, {}).get("bytes", 0) for x in rows] for k in KINDS}


def kinds_summary(
    s: Settings,
    life: dict[str, dict[str, float]],
    samples: list[dict[str, Any]],
    t0: float,
    tail: tuple[float, float],
) -> dict[str, Any]:
    """Per kind: its tail level and slope, when it filled (configured and observed), bytes per order."""
    kt, series = kind_series(samples, t0)
    out: dict[str, Any] = {}
    for kind, ys in series.items():
        fl = flatness(kt, ys, *tail, s.threshold_pct_per_min)
        level = fl.get("level_bytes") or 0
        row: dict[str, Any] = {
            "tail": fl,
            "filled_observed_s": fill_time(kt, ys, level),
            **life.get(kind, {}),
        }
        if kind in life and "mean_s" in life[kind]:
            row["bytes_per_order_steady"] = round(level / (s.rate * life[kind]["mean_s"]), 1)
        held = [
            x["kinds"].get(kind, {}).get("entries")
            for x in samples
            if "kinds" in x and tail[0] <= x["t"] - t0
        ]
        if kind == "audit" and held and held[-1]:
            entries = statistics.fmean(h or 0 for h in held)
            row["entries_held_tail_mean"] = round(entries)
            row["bytes_per_entry_held"] = round(level / max(1.0, entries), 1)
        out[kind] = row
    return out


def decisions(s: Settings, load: dict[str, Any], t0: float, t_end: float) -> dict[str, Any]:
    n = math.ceil(t_end - t0) + 1
    offered, decided = per_second(load["sent"], t0, n), per_second(load["done"], t0, n)
    full = [d for o, d in zip(offered[1:-2], decided[1:-2], strict=True) if o]
    total = sum(n for _, n in load["done"])
    return {
        "offered_per_s": s.rate, "orders": total, "load_seconds": round(load["seconds"], 1),
        "achieved_per_s": round(total / load["seconds"], 1),
        "decided_per_s_min_max": [min(full, default=0), max(full, default=0)],
        **behind(offered, decided, s.rate), "batch_latency_s": quantiles(load["latency_s"]),
        "outcomes": load["outcomes"], "offered_series": offered, "decided_series": decided,
    }  # fmt: skip


def archiver(
    rounds: list[tuple[float, int, float]], lost: int, t0: float, tail: tuple[float, float]
) -> dict[str, Any]:
    rel = [(t - t0, n, lag) for t, n, lag in rounds]
    in_tail = [lag for t, _, lag in rel if tail[0] <= t <= tail[1]]
    return {
        "rounds": len(rel), "entries": sum(n for _, n, _ in rel), "entries_trimmed_unarchived": lost,
        "lag_s_all": quantiles([lag for t, _, lag in rel if t >= 0]), "lag_s_tail": quantiles(in_tail),
        "series": {"t": [round(t, 2) for t, _, _ in rel], "lag_s": [round(x, 3) for _, _, x in rel]},
    }  # fmt: skip


def summarize(
    s: Settings, history: bool, vshards: int, maxlen: int, t0: float, t_end: float,
    load: dict[str, Any], samples: list[dict[str, Any]], rounds: list[tuple[float, int, float]], lost: int,
) -> dict[str, Any]:  # fmt: skip
    life = lifetimes(s, history, vshards, maxlen)
    ts, net = [x["t"] - t0 for x in samples], [x["net"] for x in samples]
    fill_by = max(v["longest_s"] for v in life.values())
    tail_len = max(min(s.tail_windows * s.marker_s, s.seconds - fill_by), s.seconds / 4)
    tail = (s.seconds - tail_len, s.seconds)
    _, base = between(ts, net, -1e9, 0.0)
    _, last = between(ts, net, s.seconds - 10, s.seconds)
    _, during = between(ts, net, 0.0, s.seconds)
    verdict = flatness(ts, net, *tail, s.threshold_pct_per_min)
    kinds = kinds_summary(s, life, samples, t0, tail)
    steady = {k: v["bytes_per_order_steady"] for k, v in kinds.items() if "bytes_per_order_steady" in v}
    kt, series = kind_series(samples, t0)
    return {
        "history": history, "vshards": vshards, "audit_maxlen": maxlen,
        "verdict": {**verdict, "what": "net used_memory over the tail (every window full)"},
        "verdict_sliding": sliding(ts, net, fill_by, s.seconds, tail_len, SLIDE_S, s.threshold_pct_per_min),
        "windows_full_by_s": fill_by,
        "filling": flatness(ts, net, 0.0, min(fill_by, s.seconds), s.threshold_pct_per_min),
        "levels_bytes": {"base": round(statistics.fmean(base)) if base else None,
                         "peak": max(during, default=0),
                         "final_10s_mean": round(statistics.fmean(last)) if last else None},
        "kinds": kinds, "steady_bytes_per_order": {**steady, "sum": round(sum(steady.values()), 1)},
        "decisions": decisions(s, load, t0, t_end),
        "archiver": archiver(rounds, lost, t0, tail) if history else None,
        "series": {"t": [round(t, 2) for t in ts], "net": net, "clients": [x["clients"] for x in samples],
                   "rss": [x["rss"] for x in samples], "kinds_t": [round(t, 2) for t in kt], "kinds": series,
                   "kinds_read_s": quantiles([x["kinds_read_s"] for x in samples if "kinds_read_s" in x])},
    }  # fmt: skip
