"""The flash-sale benchmark's figures, charts (matplotlib, the ``bench`` extra) and markdown summary."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from adapters.sim.lag import LagReport, percentile
from adapters.sim.polling import PollRun

CHANNEL_KEYS = (
    "orders_offered",
    "orders_accepted_by_channel",
    "orders_refused_by_channel",
    "oversold_units",
    "lag_p50_s",
    "lag_p99_s",
    "lag_max_s",
    "unreflected",
    "throttled_by_simulator",
    "dead_letters",
)


def skusync_figures(run: dict[str, Any], ramp: Any) -> dict[str, Any]:
    """Totals and per-channel figures of one real-time run."""
    rep = run["report"]
    chans = {
        cid: {"kind": c["kind"], **{k: c[k] for k in CHANNEL_KEYS}} for cid, c in rep["channels"].items()
    }
    lo, hi = ramp.peak_window
    in_peak = sum(1 for t in run["decided_at"] if lo <= t < hi)
    return {
        "totals": _totals(chans)
        | {
            "decisions_per_s": round(len(run["decided_at"]) / max(run["selling_s"], 1e-9), 1),
            "decisions_per_s_in_peak": round(in_peak / ramp.peak_s, 1),
        },
        "channels": chans,
        "master": rep["master"],
        "failures": rep["failures"],
        "redelivered_webhooks": rep["redelivered_webhooks"],
        "diverged_after_settling": rep["diverged"],
        "replay_late_s": run["replay_late_s"],
        "selling_s": run["selling_s"],
        "load_average_during": run["load_during"],
    }


def _totals(chans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "orders_offered",
        "orders_accepted_by_channel",
        "orders_refused_by_channel",
        "oversold_units",
        "throttled_by_simulator",
        "dead_letters",
    )
    out: dict[str, Any] = {k: round(sum(c[k] for c in chans.values()), 1) for k in keys}
    worst = [c["lag_p99_s"] for c in chans.values() if c["lag_p99_s"] is not None]
    out["worst_channel_lag_p99_s"] = max(worst, default=None)
    out["worst_channel_lag_max_s"] = max(
        (c["lag_max_s"] for c in chans.values() if c["lag_max_s"]), default=None
    )
    return out


def lag_by_channel(runs: list[PollRun]) -> tuple[dict[str, list[float]], list[LagReport]]:
    reports = [r.lag() for r in runs]
    samples: dict[str, list[float]] = defaultdict(list)
    for rep in reports:
        for cid, values in rep.lags.items():
            samples[cid].extend(values)
    return samples, reports


def polling_figures(polling: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    """Per period: oversold over the phases, and per channel the mean over phases (lag over all)."""
    out = {}
    for period, entry in polling.items():
        runs: list[PollRun] = entry["runs"]
        samples, reports = lag_by_channel(runs)
        chans = {}
        for cid in kinds:
            values = sorted(samples.get(cid, []))
            chans[cid] = {
                "kind": kinds[cid],
                "orders_offered": _mean(r.offered[cid] for r in runs),
                "orders_accepted_by_channel": _mean(r.offered[cid] - r.refused[cid] for r in runs),
                "orders_refused_by_channel": _mean(r.refused[cid] for r in runs),
                "oversold_units": _mean(rep.oversold_units[cid] for rep in reports),
                "lag_p50_s": percentile(values, 50),
                "lag_p99_s": percentile(values, 99),
                "lag_max_s": round(values[-1], 3) if values else None,
                "unreflected": _mean(rep.unreflected[cid] for rep in reports),
                "requests": _mean(r.requests[cid] for r in runs),
                "throttled_by_simulator": 0,
                "dead_letters": 0,
            }
        out[period] = {"summary": entry["summary"], "totals": _totals(chans), "channels": chans}
    return out


def _mean(values: Any) -> float:
    vals = list(values)
    return round(statistics.fmean(vals), 1) if vals else 0.0


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """Oversold units per system and the targets: >= 100x fewer than a 60 s poll, 0 with buffers."""
    ours = result["skusync"]["totals"]["oversold_units"]
    buffered = result["skusync_buffered"]["totals"]["oversold_units"]
    poll = {p: v["summary"]["oversold_units_mean"] for p, v in result["polling"].items()}
    p60 = poll.get("60") or 0.0
    return {
        "oversold_units": {"skusync": ours, "skusync_buffered": buffered}
        | {f"polling_{p}s_mean": v for p, v in poll.items()},
        "polling_60s_over_skusync": round(p60 / max(ours, 1), 1),
        "ratio_note": "polling mean / max(skusync, 1): a lower bound when skusync oversold nothing",
        "target_100x_met": p60 >= 100 * max(ours, 1) if ours else p60 > 0,
        "target_zero_with_buffers_met": buffered == 0,
    }


# -- markdown -------------------------------------------------------------------------------------


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


SYSTEM_HEAD = (
    "system",
    "offered",
    "sold by channels",
    "refused by channels",
    "oversold units",
    "worst channel lag p99 / max (s)",
    "decisions/s (peak)",
    "429s",
    "dead letters",
)
CHANNEL_HEAD = (
    "channel",
    "kind",
    "sold",
    "refused",
    "oversold",
    "lag p50",
    "p99",
    "max",
    "429s",
    "DLQ",
    "buffer (first hot SKU) = ceil(p99 lag x peak units/s)",
)


def _setting_line(result: dict[str, Any]) -> str:
    s, r = result["settings"], result["settings"]["ramp"]
    total = r["warm_s"] + r["ramp_s"] + r["peak_s"] + r["tail_s"]
    return (
        f"{s['orders_in_trace']} orders offered over {total:g} s ({r['base_per_s']:g}/s, ramped to "
        f"{r['base_per_s'] * r['factor']:g}/s within {r['ramp_s']:g} s, held {r['peak_s']:g} s), "
        f"{s['skus']} SKUs ({s['hot_skus']} hot, {s['hot_quantity']} units each), channels "
        f"{s['channels']} (SKUs listed: {s['slow_listed']} on {', '.join(s['slow_kinds']) or 'none'}, "
        f"all elsewhere). Load average before / after: {result['load_average']['before']} / "
        f"{result['load_average']['after']}."
    )


def markdown(result: dict[str, Any]) -> str:
    h = result["headline"]
    rows = [
        ("skusync, buffers off", result["skusync"]["totals"]),
        ("skusync, buffers from p99 lag", result["skusync_buffered"]["totals"]),
    ]
    rows += [
        (f"polling every {_period(p)} (simulated, mean of {v['summary']['phases']} phases)", v["totals"])
        for p, v in result["polling"].items()
    ]
    out = [f"# Flash sale: skusync against polling ({result.get('date', '')})", "", _setting_line(result), ""]
    out += [_row(*SYSTEM_HEAD), _row(*["---"] * len(SYSTEM_HEAD))]
    for label, t in rows:
        lag = f"{t['worst_channel_lag_p99_s']} / {t['worst_channel_lag_max_s']}"
        out.append(
            _row(
                label,
                t["orders_offered"],
                t["orders_accepted_by_channel"],
                t["orders_refused_by_channel"],
                f"**{t['oversold_units']}**",
                lag,
                t.get("decisions_per_s_in_peak", "(not a decider)"),
                t["throttled_by_simulator"],
                t["dead_letters"],
            )
        )
    pg = result["postgres_decision_path"]
    label = "PostgreSQL `UPDATE ... WHERE qty >= n` per webhook (decides only)"
    if "skipped" in pg:
        out.append(_row(label, pg["skipped"], *[""] * 7))
    else:
        lat = f"decision p50 {pg['latency_p50_s']} / p99 {pg['latency_p99_s']} / max {pg['latency_max_s']}"
        out.append(
            _row(
                label,
                pg["orders_offered"],
                "-",
                "-",
                "-",
                lat,
                pg["decisions_per_s_in_peak"],
                "-",
                f"{pg['failed']} failed",
            )
        )
    met = {True: "met", False: "NOT met"}
    out += [
        "",
        f"Oversold units, polling every 60 s / skusync: **{h['polling_60s_over_skusync']}x** (target 100x: "
        f"{met[h['target_100x_met']]}); with buffers: {h['oversold_units']['skusync_buffered']} (target 0: "
        f"{met[h['target_zero_with_buffers_met']]}).",
        "",
        "Per channel, skusync with buffers off (lag in seconds):",
        "",
        _row(*CHANNEL_HEAD),
        _row(*["---"] * len(CHANNEL_HEAD)),
    ]
    for cid, c in result["skusync"]["channels"].items():
        b = result["buffers"].get(cid, {})
        hot = next(iter(b.get("hot", {}).items()), ("", 0))
        rate = b.get("peak_units_per_s", {}).get(hot[0], 0)
        out.append(
            _row(
                cid,
                c["kind"],
                c["orders_accepted_by_channel"],
                c["orders_refused_by_channel"],
                c["oversold_units"],
                c["lag_p50_s"],
                c["lag_p99_s"],
                c["lag_max_s"],
                c["throttled_by_simulator"],
                c["dead_letters"],
                f"{hot[1]} = ceil({b.get('p99_lag_s')} x {rate})",
            )
        )
    out += ["", *_run_notes(result), "", POLLING_NOTE, ""]
    return "\n".join(out)


def _run_notes(result: dict[str, Any]) -> list[str]:
    """What a reader must know to trust the skusync rows: invariants, redeliveries, hot SKUs listed."""
    notes = []
    for label, key in (("buffers off", "skusync"), ("buffers on", "skusync_buffered")):
        r = result[key]
        m = r["master"]
        notes.append(
            f"- skusync {label}: master conserved {m['conserved']}, never negative {m['never_negative']}; "
            f"webhooks undelivered at first {m.get('undelivered_webhooks')}, redelivered "
            f"{r['redelivered_webhooks']}; replay behind schedule by at most {r['replay_late_s']} s; "
            f"failures {r['failures'] or 'none'}; load average during {r['load_average_during']}."
        )
    hot_q = result["settings"]["hot_quantity"]
    listed = {cid: max(0, hot_q - next(iter(b["hot"].values()), 0)) for cid, b in result["buffers"].items()}
    notes.append(
        f"- With buffers, each channel listed of a hot SKU's {hot_q} units at the start: {listed} "
        "(a buffer covering p99 lag x peak rate that exceeds the stock lists none: that channel sells "
        "none of it)."
    )
    return notes


POLLING_NOTE = (
    "Polling is simulated (adapters/sim/polling.py) on the same trace, stock, listed SKUs and limits: "
    "master exact at every moment; every P seconds each SKU changed since its last push is queued, the "
    "most over-listed first, and pushed as absolute quantities in the kind's batches at its full "
    "published rate (no safety margin); each batch writes master's value at the moment it is sent and "
    "lands at once (no network time, no 429s, no failures). Each period is run with its first tick at "
    "evenly spaced phases; the table gives the mean."
)


def _period(p: str) -> str:
    v = float(p)
    return f"{v / 60:g} min" if v >= 120 else f"{v:g} s"


def write_outputs(name: str, result: dict[str, Any], runs: dict[str, Any], out: Path) -> None:
    """Headline and charts into ``result``, then the markdown summary beside the JSON."""
    out.mkdir(parents=True, exist_ok=True)
    result.setdefault("date", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    result["headline"] = headline(result)
    from benchmarks.flash_sale_charts import charts

    files = charts(result, runs, out, name)
    result["charts"] = files or "skipped: matplotlib not installed (pip install -e '.[bench]')"
    (out / f"{name}.md").write_text(markdown(result) + "".join(f"\n![{f}]({f})\n" for f in files))
