"""The polling sync sellers run today, as a discrete-event simulation over a recorded order trace.

Used by ``benchmarks.flash_sale`` and by ``skusync demo`` to say what a poll every ``P`` seconds would
have oversold in the very sale skusync just ran (it lives here, beside ``adapters.sim.lag``, because
the demo needs it and ``benchmarks`` is not installed with the package).

The model, built to be the best a careful seller could run (no straw man):

- **Master is exact at every moment**, as if every order reached it at once: a sale is granted
  ``min(units, master)`` and master never goes below 0. Only the *listings* wait for the poll.
- **Every ``period_s`` seconds** (ticks at ``phase_s + k * period_s``) the sync compares master with
  what it last pushed to each channel and queues every changed SKU, the most over-listed first.
- **Pushes keep the channel's published limits**: a token bucket of ``per_s`` cost units a second with
  ``burst`` (full at the start; no safety margin, which skusync's channel actors do keep), batches
  of up to ``max_batch`` SKUs costing ``fixed + per_sku * n``. Each batch writes master's value *at
  the moment it is sent* (minus the channel's buffer) and lands at once: no network time, no
  throttling, no failed writes.
- A channel's own sales lower its listing at once (the marketplace does that); a sale is refused
  when the listing does not cover it; a sale master could not grant in full is **oversold** by the
  missing units (the same definition as ``adapters.sim.lag``).

``simulate`` returns per-channel ``ChannelRecord``s in the form the simulators' records take, so lag
and oversell come from ``adapters.sim.lag.measure``, the very code that measures skusync's run.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import ListingUpdate, adapter_for
from adapters.sim.lag import ChannelRecord, LagReport, measure
from engine.config import ChannelConfig


@dataclass(frozen=True)
class Arrival:
    """One shopper's attempt to buy ``units`` of ``sku`` on ``channel``, ``t`` seconds into the sale."""

    t: float
    channel: str
    sku: str
    units: int = 1


@dataclass(frozen=True)
class PushLimits:
    """What one channel lets a sync push: ``per_s`` cost units a second, ``burst``, SKUs a request,
    and the cost of a request carrying ``n`` SKUs: ``fixed + per_sku * n``."""

    per_s: float
    burst: float
    max_batch: int = 1
    fixed: float = 1.0
    per_sku: float = 0.0

    def cost(self, n: int) -> float:
        return self.fixed + self.per_sku * n

    def skus_per_s(self) -> float:
        """SKUs a second this channel can take at full batches: how fast it can follow a sale."""
        return self.per_s * self.max_batch / self.cost(self.max_batch)


def push_limits(channel: ChannelConfig) -> PushLimits:
    """The limits skusync's channel actor would budget ``channel`` with: its ``rate_limit`` if set,
    else the kind's published default, and the kind's batch size and request cost."""
    adapter = adapter_for(channel.kind).OUTBOUND
    tune = getattr(adapter, "for_channel", None)
    adapter = tune(channel) if tune is not None else adapter
    limit = channel.rate_limit
    per_s, burst = (limit.per_second, limit.burst) if limit else adapter.default_rate
    batch = max(1, int(adapter.max_batch))

    def cost(n: int) -> float:
        return float(adapter.cost([ListingUpdate(f"s{i}", 0, 1, {}) for i in range(n)]))

    per_sku = (cost(2) - cost(1)) if batch >= 2 else cost(1)
    return PushLimits(float(per_s), float(burst), batch, cost(1) - per_sku, per_sku)


@dataclass
class PolledChannel:
    """One channel account as the polling sync sees it: the SKUs it lists, its limits, its buffer."""

    channel_id: str
    limits: PushLimits
    skus: frozenset[str] | None = None
    """SKUs listed on the channel (None: every SKU of the initial stock)."""
    buffer: Mapping[str, int] = field(default_factory=dict)
    """Units held back per SKU (missing: 0)."""

    def listed(self, sku: str, available: int) -> int:
        return max(0, available - self.buffer.get(sku, 0)) if available > 0 else 0


@dataclass
class PollRun:
    """One simulated run: the records ``adapters.sim.lag`` reads, plus the sync's own counters."""

    period_s: float
    phase_s: float
    records: list[ChannelRecord]
    offered: dict[str, int]
    refused: dict[str, int]
    requests: dict[str, int]
    pushed: dict[str, int]
    master: dict[str, list[tuple[float, int]]]
    """Master's available over time, per SKU that sold: ``(t, available after)``."""

    def lag(self) -> LagReport:
        return measure(self.records)

    def oversold_units(self) -> int:
        report = self.lag()
        return sum(report.oversold_units.values())


class _Pusher:
    """One channel's queue of SKUs to push and its token bucket, as the poll drains it."""

    def __init__(self, channel: PolledChannel, start: float) -> None:
        self.channel = channel
        self.tokens, self.at = channel.limits.burst, start
        self.queue: list[str] = []
        self.scheduled = False

    def refill(self, now: float) -> None:
        lim = self.channel.limits
        self.tokens = min(lim.burst, self.tokens + (now - self.at) * lim.per_s)
        self.at = now

    def ready_at(self, now: float) -> float:
        """When the next batch can be sent: as soon as the bucket holds its cost."""
        self.refill(now)
        need = self.channel.limits.cost(min(len(self.queue), self.channel.limits.max_batch))
        return now if self.tokens >= need else now + (need - self.tokens) / self.channel.limits.per_s


def simulate(
    arrivals: Sequence[Arrival],
    initial: Mapping[str, int],
    channels: Iterable[PolledChannel],
    period_s: float,
    phase_s: float = 0.0,
    until_s: float | None = None,
) -> PollRun:
    """Run the trace against a poll every ``period_s`` (first tick at ``phase_s``, ``0 <= phase_s <
    period_s``) until ``until_s`` (default: the first tick after the last arrival, and its pushes)."""
    if period_s <= 0 or not 0 <= phase_s < period_s:
        raise ValueError(f"need period_s > 0 and 0 <= phase_s < period_s, not {period_s}, {phase_s}")
    chans = {c.channel_id: c for c in channels}
    master = dict(initial)
    listing = {
        cid: {s: c.listed(s, q) for s, q in initial.items() if _lists(c, s)} for cid, c in chans.items()
    }
    pushed_value = {cid: {s: q for s, q in initial.items() if _lists(c, s)} for cid, c in chans.items()}
    received: dict[str, list[tuple[float, str, int]]] = {cid: [] for cid in chans}
    sales: dict[str, list[tuple[float, str, int, dict[str, Any] | None]]] = {cid: [] for cid in chans}
    counts = {name: dict.fromkeys(chans, 0) for name in ("offered", "refused", "requests", "pushed")}
    history: dict[str, list[tuple[float, int]]] = {}
    version: dict[str, int] = dict.fromkeys(initial, 1)
    last = max((a.t for a in arrivals), default=0.0)
    end = until_s if until_s is not None else _first_tick_after(last, period_s, phase_s)
    pushers = {cid: _Pusher(c, 0.0) for cid, c in chans.items()}
    # Events: (t, order, seq, payload); at equal times pushes land before ticks before sales.
    events: list[tuple[float, int, int, Any]] = [(a.t, 2, i, a) for i, a in enumerate(arrivals)]
    tick = phase_s
    while tick <= end:
        events.append((tick, 1, -1, None))
        tick += period_s
    heapq.heapify(events)
    seq = len(events)
    while events:
        t, kind, _, payload = heapq.heappop(events)
        if kind == 2:
            _sell(payload, master, listing, sales, counts, history, version)
        elif kind == 1:
            for cid, p in pushers.items():
                _queue_changes(p, master, pushed_value[cid], listing[cid])
                if p.queue and not p.scheduled:
                    p.scheduled = True
                    heapq.heappush(events, (p.ready_at(t), 0, seq, cid))
                    seq += 1
        else:
            p = pushers[payload]
            p.refill(t)
            lim = p.channel.limits
            batch, p.queue = p.queue[: lim.max_batch], p.queue[lim.max_batch :]
            p.tokens -= lim.cost(len(batch))
            counts["requests"][payload] += 1
            for sku in batch:
                q = p.channel.listed(sku, master[sku])
                listing[payload][sku] = q
                pushed_value[payload][sku] = master[sku]
                received[payload].append((t, sku, q))
                counts["pushed"][payload] += 1
            p.scheduled = bool(p.queue)
            if p.queue:
                heapq.heappush(events, (p.ready_at(t), 0, seq, payload))
                seq += 1
    records = [
        ChannelRecord(
            cid,
            {s: c.listed(s, q) for s, q in initial.items() if _lists(c, s)},
            received[cid],
            sales[cid],
            c.listed,
        )
        for cid, c in chans.items()
    ]
    return PollRun(
        period_s,
        phase_s,
        records,
        counts["offered"],
        counts["refused"],
        counts["requests"],
        counts["pushed"],
        history,
    )


def _lists(channel: PolledChannel, sku: str) -> bool:
    return channel.skus is None or sku in channel.skus


def _first_tick_after(t: float, period_s: float, phase_s: float) -> float:
    return phase_s + period_s * (math.floor((t - phase_s) / period_s) + 1)


def _queue_changes(
    p: _Pusher, master: Mapping[str, int], pushed: dict[str, int], listing: dict[str, int]
) -> None:
    """Queue the SKUs whose master changed since their last push, the most over-listed first (a
    careful sync pushes the SKUs closest to overselling before the others)."""
    queued = set(p.queue)
    changed = [s for s, was in pushed.items() if master[s] != was and s not in queued]
    changed.sort(key=lambda s: (master[s] - listing[s], s))
    p.queue.extend(changed)


def _sell(
    a: Arrival,
    master: dict[str, int],
    listing: dict[str, dict[str, int]],
    sales: dict[str, list[tuple[float, str, int, dict[str, Any] | None]]],
    counts: dict[str, dict[str, int]],
    history: dict[str, list[tuple[float, int]]],
    version: dict[str, int],
) -> None:
    listed = listing.get(a.channel)
    if listed is None or a.sku not in listed:
        return
    counts["offered"][a.channel] += 1
    if listed[a.sku] < a.units:
        counts["refused"][a.channel] += 1
        return
    listed[a.sku] -= a.units
    accepted = min(a.units, max(0, master[a.sku]))
    master[a.sku] -= accepted
    version[a.sku] += 1
    history.setdefault(a.sku, []).append((a.t, master[a.sku]))
    line = {"sku": a.sku, "accepted": accepted, "available": master[a.sku], "version": version[a.sku]}
    sales[a.channel].append((a.t, a.sku, a.units, {"lines": [line]}))


def phases(period_s: float, n: int) -> list[float]:
    """``n`` evenly spaced first-tick times in ``[0, period_s)``: where the sale falls in the poll's
    cycle is luck, so results are given over every phase (mean, min, max), not one."""
    return [period_s * i / n for i in range(n)]


def summary(runs: Sequence[PollRun]) -> dict[str, Any]:
    """Oversold units over the runs of one period (each a phase): mean, min, max, per phase."""
    oversold = [r.oversold_units() for r in runs]
    return {
        "period_s": runs[0].period_s if runs else None,
        "phases": len(runs),
        "oversold_units_mean": round(sum(oversold) / len(oversold), 1) if oversold else None,
        "oversold_units_min": min(oversold, default=None),
        "oversold_units_max": max(oversold, default=None),
        "oversold_units_by_phase": {f"{r.phase_s:g}": o for r, o in zip(runs, oversold, strict=True)},
    }
