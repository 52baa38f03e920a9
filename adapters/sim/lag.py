"""Propagation lag and oversell, measured from what the simulators recorded (sales and received quantities).

Definitions (one run, every simulator in this process, timestamps from ``time.time()``):

- A **sale** is an order a simulator accepted on channel A at time ``t`` for SKU ``s``. Its webhook's
  answer carries master's decision: ``accepted`` units and master's ``available`` after it.
- The sale is **oversold** when master granted fewer units than the channel sold (``accepted <
  requested``): the channel sold stock master no longer had. Oversold sales are not lag samples:
  master did not change, so there is nothing to propagate.
- Sales whose webhook brought no decision back (delivery failed, even if retried later) are counted
  as ``undecided`` and left out: without master's answer, what the other channels should list is
  unknown, and after a late retry the delay is the retry's, not the pipeline's.
- For every other channel B the sale's **target** is ``max(0, rules_B(s, available))``, B's listing
  for master's stock after the sale (``rules_B`` = B's buffer rules). B's **listing** over time is
  what its simulator recorded: each received quantity sets it, each of B's own sales lowers it. B
  **reflects** the sale from the first moment at or after ``t`` its listing is ``<= target``: from
  then on B cannot sell units master no longer has. The **lag** is that moment minus ``t``; it is 0
  when B's listing already was ``<= target`` at ``t`` (a buffer or a zero floor hid the units, or
  B's own sales took them). Usually the moment is a received push; it is one of B's own sales only
  when those sold B's listing down that far first. A sale B never reflects before the run's end is
  ``unreflected``.

Valid for **sale-only runs**: master's available per SKU only goes down while measuring, so a
received ``q <= target`` cannot be the echo of an older, higher state. Restocks, cancels, returns or
stock sets during the window would break that; ``measure`` refuses decisions that raise a SKU's
available above an earlier one (``ValueError``) rather than report numbers it cannot stand behind.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.sim.core import SimulatedStore

Listed = Callable[[str, int], int]
"""``(sku, master available) -> units the channel lists`` (its buffer rules)."""


@dataclass
class ChannelRecord:
    """What one simulator recorded, copied out under its lock (``from_store``)."""

    channel_id: str
    seeded: dict[str, int]
    received: list[tuple[float, str, int]]
    sales: list[tuple[float, str, int, dict[str, Any] | None]]
    listed: Listed

    @classmethod
    def from_store(
        cls,
        channel_id: str,
        store: SimulatedStore,
        seeded: Mapping[str, int],
        listed: Listed,
        first_delivery_failed: Collection[int] = (),
    ) -> ChannelRecord:
        """Copy ``store``'s records. Orders in ``first_delivery_failed`` (their webhook failed and was
        sent again later by the harness) count as undecided: when master learnt of them depends on
        the harness's retry, not on the pipeline."""
        failed = set(first_delivery_failed)
        with store.lock:
            received = list(store.received)
            sales = [
                (o.t, sku, q, None if o.order_id in failed else o.decision)
                for o in store.orders
                for sku, q in o.lines
            ]
        return cls(channel_id, dict(seeded), received, sales, listed)


@dataclass
class LagReport:
    """Per channel B: lag samples for other channels' sales, plus the sales B itself made."""

    lags: dict[str, list[float]] = field(default_factory=dict)
    unreflected: dict[str, int] = field(default_factory=dict)
    oversold: dict[str, int] = field(default_factory=dict)
    oversold_units: dict[str, int] = field(default_factory=dict)
    undecided: dict[str, int] = field(default_factory=dict)

    def summary(self, channel_id: str) -> dict[str, Any]:
        """``{samples, p50_s, p99_s, max_s, unreflected, oversold, oversold_units, undecided}``."""
        values = sorted(self.lags.get(channel_id, []))
        return {
            "samples": len(values),
            "p50_s": percentile(values, 50),
            "p99_s": percentile(values, 99),
            "max_s": round(values[-1], 4) if values else None,
            "unreflected": self.unreflected.get(channel_id, 0),
            "oversold": self.oversold.get(channel_id, 0),
            "oversold_units": self.oversold_units.get(channel_id, 0),
            "undecided": self.undecided.get(channel_id, 0),
        }


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty), rounded to 0.1 ms."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 4)


def _line(decision: dict[str, Any] | None, sku: str) -> dict[str, Any] | None:
    for line in (decision or {}).get("lines", []):
        if line.get("sku") == sku:
            return dict(line)
    return None


class _Listing:
    """One channel's listing of one SKU over time: pushes set it, the channel's own sales lower it."""

    def __init__(self, seeded: int, events: list[tuple[float, int, int]]) -> None:
        # events: (t, 0, quantity set) or (t, 1, units sold); at equal times a push lands first
        events.sort()
        self.times: list[float] = []
        self.levels: list[int] = []
        self.seeded = level = seeded
        for t, kind, q in events:
            level = q if kind == 0 else level - q
            self.times.append(t)
            self.levels.append(level)

    def lag(self, t: float, target: int) -> float | None:
        """Seconds from ``t`` until the listing is ``<= target`` (0 if already); None if never."""
        i = bisect.bisect_right(self.times, t)
        if (self.levels[i - 1] if i else self.seeded) <= target:
            return 0.0
        for j in range(i, len(self.times)):
            if self.levels[j] <= target:
                return self.times[j] - t
        return None


def measure(records: Sequence[ChannelRecord]) -> LagReport:
    """Lag of every decided, not oversold sale on every other channel (see the module docstring)."""
    report = LagReport()
    listings: dict[str, dict[str, _Listing]] = {}
    for rec in records:
        events: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
        for t, sku, q in rec.received:
            events[sku].append((t, 0, q))
        for t, sku, q, _ in rec.sales:
            events[sku].append((t, 1, q))
        listings[rec.channel_id] = {
            sku: _Listing(seeded, events.get(sku, [])) for sku, seeded in rec.seeded.items()
        }
        report.lags[rec.channel_id] = []
        for name in ("unreflected", "oversold", "oversold_units", "undecided"):
            getattr(report, name)[rec.channel_id] = 0
    samples = _decided_sales(records, report)
    for source, t, sku, available in samples:
        for rec in records:
            if rec.channel_id == source or sku not in listings[rec.channel_id]:
                continue
            target = max(0, rec.listed(sku, available))
            lag = listings[rec.channel_id][sku].lag(t, target)
            if lag is None:
                report.unreflected[rec.channel_id] += 1
            else:
                report.lags[rec.channel_id].append(lag)
    return report


def _decided_sales(records: Sequence[ChannelRecord], report: LagReport) -> list[tuple[str, float, str, int]]:
    """``(source channel, t, sku, master available after)`` for every sale master granted in full."""
    out: list[tuple[str, float, str, int]] = []
    by_version: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rec in records:
        for t, sku, q, decision in rec.sales:
            line = _line(decision, sku)
            if line is None or line.get("available") is None:
                report.undecided[rec.channel_id] += 1
                continue
            accepted = int(line.get("accepted") or 0)
            if accepted < q:
                report.oversold[rec.channel_id] += 1
                report.oversold_units[rec.channel_id] += q - accepted
            if accepted == 0:
                continue
            available = int(line["available"])
            by_version[sku].append((int(line.get("version") or 0), available))
            out.append((rec.channel_id, t, sku, available))
    for sku, rows in by_version.items():
        rows.sort()
        if any(b[1] > a[1] for a, b in itertools.pairwise(rows)):
            raise ValueError(f"{sku}: master's available went up during the run; lag needs a sale-only run")
    return out
