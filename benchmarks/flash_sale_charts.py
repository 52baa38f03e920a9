"""The flash-sale benchmark's PNG charts (matplotlib, the optional ``bench`` extra): one hot SKU's
listing on every channel against master, skusync beside a 60 s poll; lag per kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.sim.lag import ChannelRecord, measure
from benchmarks.flash_sale_report import lag_by_channel


def listing_series(rec: ChannelRecord, sku: str, t0: float) -> tuple[list[float], list[int]]:
    """What ``rec``'s channel listed for ``sku`` over time (pushes set it, its own sales lower it)."""
    events = sorted(
        [(t, 0, q) for t, s, q in rec.received if s == sku]
        + [(t, 1, q) for t, s, q, _ in rec.sales if s == sku]
    )
    level = rec.seeded.get(sku, 0)
    xs, ys = [0.0], [level]
    for t, kind, q in events:
        level = q if kind == 0 else level - q
        xs.append(t - t0)
        ys.append(level)
    return xs, ys


def master_series(
    records: list[ChannelRecord], sku: str, initial: int, t0: float
) -> tuple[list[float], list[int]]:
    """Master's available for ``sku`` at each sale it decided, at the sale's time: the lowest
    ``available`` answered for any sale up to then (a sale-only run: master only goes down, and
    webhooks of nearby sales are decided in any order)."""
    rows = []
    for rec in records:
        for t, s, _, decision in rec.sales:
            for line in (decision or {}).get("lines", []) if s == sku else []:
                if line.get("sku") == sku and line.get("available") is not None:
                    rows.append((t - t0, int(line["available"])))
    rows.sort()
    xs, ys, low = [0.0], [initial], initial
    for t, available in rows:
        low = min(low, available)
        xs.append(t)
        ys.append(low)
    return xs, ys


def charts(result: dict[str, Any], runs: dict[str, Any], out: Path, name: str) -> list[str]:
    """Hot SKU listed over time (skusync beside a 60 s poll) and lag per kind; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    sku = result["settings"]["hot"][0]
    initial = result["settings"]["hot_quantity"]
    end = result["settings"]["ramp"]["warm_s"] + result["settings"]["ramp"]["ramp_s"]
    end += result["settings"]["ramp"]["peak_s"] + result["settings"]["ramp"]["tail_s"]
    # past the sale until skusync's last push of the SKU (its stores converge after the sale), at most 60 s
    plain = runs["plain"]
    last = [t - plain["wall0"] for rec in plain["records"] for t, s, _ in rec.received if s == sku]
    end = min(max([end + 5, *last]) + 2, end + 60)
    p60 = runs["polling"]["60"]["runs"]
    mean = result["polling"]["60"]["summary"]["oversold_units_mean"]
    shown = min(p60, key=lambda r: abs(r.oversold_units() - mean))
    panels = [
        ("skusync (buffers off)", runs["plain"]["records"], runs["plain"]["wall0"]),
        (f"polling every 60 s (first tick at {shown.phase_s:g} s)", shown.records, 0.0),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    lo, hi = (result["settings"]["ramp"]["warm_s"] + result["settings"]["ramp"]["ramp_s"], 0.0)
    hi = lo + result["settings"]["ramp"]["peak_s"]
    for ax, (title, records, t0) in zip(axes, panels, strict=True):
        ax.axvspan(lo, hi, color="0.92", label="peak (10x)")
        for rec in records:
            if sku in rec.seeded:
                xs, ys = listing_series(rec, sku, t0)
                ax.step([*xs, end], [*ys, ys[-1]], where="post", lw=1, label=rec.channel_id)
        xs, ys = master_series(records, sku, initial, t0)
        ax.step([*xs, end], [*ys, ys[-1]], where="post", color="black", lw=2.5, label="master")
        ax.set_title(title)
        ax.set_xlabel("seconds into the sale")
        ax.set_xlim(0, end)
    axes[0].set_ylabel(f"{sku}: units listed")
    axes[1].legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    files = [f"{name}_hot_sku.png"]
    fig.savefig(out / files[0], dpi=110)
    plt.close(fig)
    files.append(_lag_chart(plt, result, runs, out, f"{name}_lag_by_kind.png"))
    return files


def _lag_chart(plt: Any, result: dict[str, Any], runs: dict[str, Any], out: Path, file: str) -> str:
    kinds = {cid: c["kind"] for cid, c in result["skusync"]["channels"].items()}
    ours = measure(runs["plain"]["records"]).lags
    polled, _ = lag_by_channel(runs["polling"]["60"]["runs"])
    order = sorted(set(kinds.values()))
    data, labels = [], []
    for kind in order:
        for label, lags in (("skusync", ours), ("poll 60 s", polled)):
            values = [max(v, 1e-3) for cid, vs in lags.items() if kinds.get(cid) == kind for v in vs]
            data.append(values or [1e-3])
            labels.append(f"{kind}\n{label}")
    fig, ax = plt.subplots(figsize=(min(15, max(6, 0.8 * len(data))), 4.8))
    ax.boxplot(data, whis=(1, 99), showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("lag, s (sale -> channel lists it; whiskers p1-p99)")
    ax.set_title("propagation lag by kind: skusync vs a 60 s poll (same trace)")
    fig.tight_layout()
    fig.savefig(out / file, dpi=110)
    plt.close(fig)
    return file
