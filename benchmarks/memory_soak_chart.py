"""The memory soak's PNG (matplotlib, the optional ``bench`` extra): per phase, Redis memory over
time by record kind with each window's fill time marked and the verdict's span shaded; below it,
orders offered and decided per second and the archiver's lag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MB = 1e6
COLORS = {"idempotency": "tab:blue", "order": "tab:orange", "marker": "tab:green", "audit": "tab:red",
          "stock": "tab:purple", "other": "tab:gray"}  # fmt: skip


def chart(phases: dict[str, dict[str, Any]], path: Path) -> str | None:
    """Write ``path``; its name, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(2, len(phases), figsize=(7 * len(phases), 8), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.3]})  # fmt: skip
    for col, (name, p) in enumerate(phases.items()):
        _memory(axes[0][col], name, p)
        _rates(axes[1][col], p)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _memory(ax: Any, name: str, p: dict[str, Any]) -> None:
    s, v = p["series"], p["verdict"]
    ax.axvspan(v["from_s"], v["to_s"], color="0.93", label="verdict span")
    ax.plot(s["t"], [x / MB for x in s["net"]], color="black", lw=2, label="used_memory - client buffers")
    for kind, ys in s["kinds"].items():
        if max(ys, default=0) > 0.01 * max(s["net"]):
            ax.plot(s["kinds_t"], [y / MB for y in ys], color=COLORS.get(kind), lw=1.2, label=kind)
    for kind, k in p["kinds"].items():
        if "longest_s" in k:
            ax.axvline(k["longest_s"], color=COLORS.get(kind), ls="--", lw=0.9)
    verdict = "flat" if v["flat"] else "NOT flat"
    ax.set_title(
        f"{name}: {verdict} ({v['slope_pct_of_level_per_min']:+.2f} %/min of {v['level_bytes'] / MB:.1f} MB, "
        f"threshold {v['threshold_pct_per_min']:g})",
        fontsize=10,
    )
    ax.set_ylabel("Redis MB (dashed: window full, configured)")
    ax.set_xlabel("seconds into the load")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="lower right")


def _rates(ax: Any, p: dict[str, Any]) -> None:
    d = p["decisions"]
    xs = list(range(len(d["offered_series"])))
    ax.step(xs, d["offered_series"], where="post", color="0.5", lw=1, label="offered/s")
    ax.step(xs, d["decided_series"], where="post", color="black", lw=1, label="decided/s")
    ax.set_ylabel("orders per second")
    ax.set_xlabel("seconds into the load")
    ax.legend(fontsize=7, loc="lower left")
    a = p.get("archiver")
    if a and a["series"]["t"]:
        twin = ax.twinx()
        twin.plot(a["series"]["t"], a["series"]["lag_s"], color="tab:red", lw=0.8, label="archiver lag s")
        twin.set_ylabel("archiver lag, s", color="tab:red")
        twin.set_ylim(bottom=0)
