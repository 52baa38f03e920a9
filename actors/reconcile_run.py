"""One channel's reconciliation run, Ray-free: read listings, backfill orders, compare, queue corrections.

The order of steps is what keeps a sold unit from being relisted:

1. read what the channel lists (time ``observed_at``);
2. for EVERY channel (a sale lost on another channel is just as much missing from master), list
   its orders since its watermark (these listings start after step 1, so every sale already
   reflected in the listings is in them) and feed those master lacks to the shards, which count
   each order once whichever path brings it (``engine.reconcile``);
3. only if every backfill succeeded: read master, compare, and hand the corrections to the channel
   actor, which refuses any that a newer live change (or a push after ``observed_at``) made moot.

So every correction is computed from a master that already holds every sale any channel had made
when the listings were observed. (A first version backfilled one channel then corrected it, and
relisted units sold on the channels not yet backfilled: the benchmark caught it.)

What remains open: a sale made after step 2's listing whose webhook is also lost can be relisted
by a correction until the next run on channels without compare-and-set. On Shopify every push,
corrections included, is conditional on what we believe is listed: such a sale makes the correction
stale, and the channel actor folds it in rather than overwrite it (``engine.channel_sync``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import httpx

from adapters.reading import ReadStats, ReconcileAdapter
from engine.channel_sync import rules_for
from engine.config import ChannelConfig
from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.reconcile import DriftReport, backfill_events, compare, next_watermark, query_since
from engine.store.reconcile_store import ReconcileStore
from engine.token_bucket import TokenBucket

Clock = Callable[[], float]
SUBMIT_CHUNK = 500


async def submit_backfill(shards: Shards, events: list[WireEvent], reports: dict[str, DriftReport]) -> None:
    """Step 2b: decide every channel's backfill events together (one change per SKU reaches the
    channels, not one per channel's backfill); count what master did not have per channel."""
    for i in range(0, len(events), SUBMIT_CHUNK):
        decisions, _ = await shards.submit_async(events[i : i + SUBMIT_CHUNK])
        for d in decisions:
            report = reports.get(str(d.get("channel")))
            if report is not None and d["outcome"] == "applied":
                report.orders_backfilled += d["kind"] == "order_placed"
                report.updates_backfilled += d["kind"] == "order_updated"
                report.cancels_backfilled += d["kind"] == "order_cancelled"


class Shards(Protocol):
    """What a run needs from ``actors.shard_client.ShardClient``."""

    async def submit_async(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]: ...

    async def get_many_async(self, skus: Sequence[str]) -> dict[str, dict[str, Any] | None]: ...


Correct = Callable[[dict[str, dict[str, Any]], float], Awaitable[dict[str, str]]]
"""The channel actor's ``correct(corrections, observed_at)``."""


def option(channel: ChannelConfig, name: str, default: float) -> float:
    return float((channel.model_extra or {}).get(name, default))


def reading_bucket(channel: ChannelConfig, rate: tuple[float, float]) -> TokenBucket:
    """The channel's reconciliation share of its rate budget (``reconcile_rate_share``, 0.25)."""
    share = option(channel, "reconcile_rate_share", 0.25)
    per_s, burst = rate
    return TokenBucket(per_s * share, max(burst * share, 1.0), time.monotonic)


class ChannelReconciler:
    """Runs reconciliation for one channel; holds nothing between runs but its HTTP client.

    Channel extras: ``reconcile_rate_share`` (0.25 of the channel's budget for the reads: the live
    lane keeps the rest), ``reconcile_overlap_s`` (300: orders re-listed before the watermark, for
    clock skew and second-granular filters), ``reconcile_lookback_s`` (86400: the first run's window).
    """

    def __init__(
        self,
        channel: ChannelConfig,
        adapter: ReconcileAdapter,
        rate: tuple[float, float],
        shards: Shards,
        store: ReconcileStore,
        correct: Correct,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.channel, self.adapter, self.shards, self.store = channel, adapter, shards, store
        self.correct, self.clock, self.sleep = correct, clock, sleep
        # Runs that overlap (a scheduled one beside a manual one) pass the same bucket, so together
        # they still read within the share and the live lane keeps the rest.
        self.bucket = bucket or reading_bucket(channel, rate)
        self.quantity = rules_for(channel).listed

    async def pace(self, cost: float) -> None:
        """Wait for ``cost`` units of the reconciliation share of the budget, then take them."""
        if cost <= 0:
            return
        cost = min(cost, self.bucket.limits.capacity)  # a page dearer than the share still goes, paced
        while not self.bucket.try_take(cost):
            await self.sleep(max(0.01, self.bucket.wait_time(cost)))

    async def observe(self, client: httpx.AsyncClient, stats: ReadStats) -> tuple[float, dict[str, int]]:
        """Step 1: what the channel lists, and when it was read (before any order listing)."""
        observed_at = self.clock()
        listed: dict[str, int] = {}
        async for page in self.adapter.listed_quantities(client, self.channel, self.pace, stats):
            listed.update(page)
        return observed_at, listed

    async def finish(self, report: DriftReport, stats: ReadStats) -> DriftReport:
        """Count the reads, time the run, store the report."""
        report.api_calls, report.api_cost = stats.calls, stats.cost
        report.duration_s = self.clock() - report.started_at
        await self.store.save_report(report)
        return report

    async def missing(
        self, client: httpx.AsyncClient, stats: ReadStats, report: DriftReport
    ) -> list[WireEvent]:
        """Step 2a: list the channel's orders since its watermark; the events for those master lacks.

        Sets ``report.orders_listed`` and ``report.watermark`` (stored by ``commit`` once the
        events are decided, so a failed submit lists the same orders next time).
        """
        mark = await self.store.watermark(self.channel.id)
        if mark is None:
            since = self.clock() - option(self.channel, "reconcile_lookback_s", 86400.0)
        else:
            since = query_since(mark, option(self.channel, "reconcile_overlap_s", 300.0))
        orders = []
        async for page in self.adapter.orders_since(client, self.channel, since, self.pace, stats):
            orders.extend(page)
        report.orders_listed = len(orders)
        report.watermark = next_watermark(since if mark is None else mark, orders)
        return backfill_events(
            self.channel.id, orders, await self.store.known_orders(self.channel.id, orders)
        )

    async def commit(self, report: DriftReport) -> None:
        """Step 2c: the channel's backfill is decided: move its watermark."""
        await self.store.set_watermark(self.channel.id, report.watermark)

    async def compare(self, listed: dict[str, int], observed_at: float, report: DriftReport) -> None:
        """Step 3 (only once every channel's backfill is done): compare and queue corrections."""
        records = await self.shards.get_many_async(sorted(listed)) if listed else {}
        master = {
            s: None if r is None else (int(r["available"]), int(r["version"])) for s, r in records.items()
        }
        result = compare(listed, master, self.quantity)
        report.skus_checked, report.unmanaged = result.checked, len(result.unmanaged)
        report.drifted, report.drifted_skus = len(result.drifted), result.drifted
        if not result.corrections:
            return
        # ``listed``: what was observed, which the channel actor keeps as an explanation of a stale
        # answer (a listing edited on the channel side is corrected, never folded as a sale).
        asked = {
            c.sku: {"available": c.available, "version": c.version, "listed": c.listed}
            for c in result.corrections
        }
        outcomes = await self.correct(asked, observed_at)
        for c in result.corrections:
            outcome = outcomes.get(c.sku, "missing")
            if outcome == "queued":
                report.corrected += 1
                report.corrections.append(
                    {"sku": c.sku, "listed": c.listed, "quantity": c.quantity, "version": c.version}
                )
            elif outcome in ("live", "fresh", "stale"):
                report.superseded += 1
