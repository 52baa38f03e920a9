"""``ChannelActor``: one channel account's fan-out, a Ray shell over ``ChannelSync`` and its adapter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import ray
import redis.asyncio as aioredis

from actors.channel_http import dlq_entry, exchange, extra, outbound_for, reread, updates_of
from actors.tasks import Tasks
from adapters.base import PushResult, compare_and_set
from engine.backoff import Backoff
from engine.budget_reports import BudgetReports
from engine.channel_records import Offered, Recorded, Reply, Send, Target
from engine.channel_sync import SOURCE_GUARD_S, ChannelSync, rules_for
from engine.config import ChannelConfig
from engine.stale_risk import StaleRisk
from engine.store.channel_store import ChannelStore
from engine.store.keys import Keys
from engine.token_bucket import TokenBucket

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class ChannelActor:
    """Pushes master quantity changes to one channel account, within its rate budget.

    An async actor: all state lives on one event loop; decisions (``ChannelSync``) never await, so
    they need no locks. A drain task takes rate budget, sends batches (up to ``max_in_flight``
    requests at once, never two for one SKU) and books the answers. Durable state is written through
    version-checked scripts (``ChannelStore``), so every write may be repeated or reordered.

    Channel extras read here: ``buffer_rules``, ``max_attempts`` (6), ``retry_base_s`` (0.5),
    ``retry_cap_s`` (30), ``rate_safety`` (0.9 of the budget), ``max_in_flight`` (4), ``timeout_s`` (10),
    ``correction_reserve`` (0.5: share of the bucket a correction must leave for live updates),
    ``cas_hear_wait_s`` (1.0: how long a compare-and-set miss waits to hear of the channel's sale
    before it is pushed again, see ``ChannelSync``), ``cas_risky_half_life_s`` (10),
    ``cas_risky_batch`` (5) and ``cas_risky_share`` (0.34): SKUs that keep coming back stale travel
    apart, that many per request, in that share of the requests (``engine.stale_risk``).

    Two lanes: live targets (``notify``) and reconciliation's corrections (``correct``). A
    correction is sent only when no live target is ready and the bucket would still hold
    ``correction_reserve`` of its capacity afterwards, so it never takes the budget a sale's update
    needs; a newer live version of the same SKU replaces it (``ChannelSync``).
    """

    def __init__(self, channel: ChannelConfig, redis_url: str, key_prefix: str = "skusync") -> None:
        self.channel = channel
        self.adapter = outbound_for(channel)
        backoff = Backoff(
            float(extra(channel, "retry_base_s", 0.5)),
            float(extra(channel, "retry_cap_s", 30.0)),
            int(extra(channel, "max_attempts", 6)),
        )
        guard = float(extra(channel, "source_guard_s", SOURCE_GUARD_S))
        risk = StaleRisk(
            half_life_s=float(extra(channel, "cas_risky_half_life_s", 10.0)),
            risky_batch=int(extra(channel, "cas_risky_batch", 5)),
            share=float(extra(channel, "cas_risky_share", 0.34)),
        )
        hear_wait = float(extra(channel, "cas_hear_wait_s", 1.0))
        self.sync = ChannelSync(channel.id, rules_for(channel), backoff, time.time, guard, hear_wait, risk)
        limit = channel.rate_limit
        rate, burst = (limit.per_second, limit.burst) if limit else self.adapter.default_rate
        self.bucket = TokenBucket(rate, burst, time.monotonic, float(extra(channel, "rate_safety", 0.9)))
        self.max_in_flight = int(extra(channel, "max_in_flight", 4))
        self.correction_reserve = float(extra(channel, "correction_reserve", 0.5))
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=10, health_check_interval=30)
        self.store = ChannelStore(self.redis, Keys(key_prefix), channel.id)
        timeout = float(extra(channel, "timeout_s", 10.0))
        # One client for the actor's life: keep-alive connections are reused across batches.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=self.max_in_flight + 2),
        )
        self.counters: Counter[str] = Counter(
            dict.fromkeys(("requests", "throttled", "transport_errors", "rereads"), 0)
        )
        self._wake = asyncio.Event()
        self._tasks = Tasks()
        self.budget = BudgetReports(self.bucket)
        self._started: asyncio.Task[None] | None = None
        # Ray runs __init__ on the actor's loop: start now, so a restarted actor resumes by itself.
        with contextlib.suppress(RuntimeError):
            self._start_task()

    # -- lifecycle -----------------------------------------------------------------------------------

    def _start_task(self) -> asyncio.Task[None]:
        if self._started is None or (self._started.done() and self._started.exception() is not None):
            self._started = asyncio.get_running_loop().create_task(self._start())
        return self._started

    async def _ready(self) -> None:
        await asyncio.shield(self._start_task())

    async def _start(self) -> None:
        pending, synced = await self.store.load()
        self.sync.restore(pending, synced)
        catalog = await self.store.load_catalog()
        if catalog is not None:
            self.sync.set_catalog(catalog)  # a restart reuses it: re-importing spends rate budget
        self._tasks.spawn(self._drain())
        if catalog is None:
            self._tasks.spawn(self._import_until_done())

    async def ping(self) -> bool:
        """True once durable state is loaded and the drain loop runs."""
        await self._ready()
        return True

    async def close(self) -> None:
        """Stop sending and release connections (in-flight answers are lost; pending stays durable)."""
        self._tasks.cancel()
        await self.client.aclose()
        await self.redis.aclose()

    # -- targets in ----------------------------------------------------------------------------------

    async def notify(self, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Take master changes ``{sku: {"available", "version", "source"}}`` after a shard's commit.

        Decides in memory first (no await: coalescing, dropping older versions, skipping what the
        channel already lists), then awaits one write making the accepted targets durable, then
        wakes the drainer; it returns after that write, so a reply means the targets survive a
        restart. Ordering: any; an older version arriving late is dropped here and in Redis.
        Retry-safe: offering the same versions again changes nothing. Returns counts of accepted
        and settled (no request needed) targets and the SKUs missing from the catalog (for the audit).
        """
        await self._ready()
        offered = self.sync.offer(changes)
        await self._save(offered)
        accepted = len(offered.persist) - len(offered.unknown)
        return {"accepted": accepted, "settled": len(offered.settled), "unknown": offered.unknown}

    async def _save(self, offered: Offered) -> None:
        if offered.persist:
            await self.store.put_pending(offered.persist)
        if offered.settled:
            await self.store.settle(offered.settled)
        await self._save_beliefs()
        self._wake.set()

    async def _save_beliefs(self) -> None:
        """Make fold payments, re-read beliefs and cleared folds durable (``ChannelSync.take_beliefs``):
        a fold paid in memory only would come back at a restart and hold units back for good."""
        beliefs = self.sync.take_beliefs()
        if beliefs:
            await self.store.settle(beliefs)

    async def correct(self, corrections: dict[str, dict[str, Any]], observed_at: float) -> dict[str, str]:
        """Queue reconciliation's corrections ``{sku: {"available", "version", "listed"?}}`` on the
        low lane (``listed``: what the channel was observed listing).

        Decides in memory (no await before the decision); the corrections are not durable (one lost
        to a restart is computed again by the next reconciliation), the folds they clear are.
        Ordering: a correction older than a version this actor holds is refused, and a newer live
        change replaces it later, so the newest master value always wins.
        Retry-safe: queuing the same correction twice is one push. ``observed_at`` (unix seconds)
        is when the channel's listing was read: a correction for a version pushed after that is
        refused as ``fresh``. Returns an outcome per SKU (see ``ChannelSync.correct``).
        """
        await self._ready()
        targets = {sku: Target.decode(c) for sku, c in corrections.items()}
        listed = {sku: int(c["listed"]) for sku, c in corrections.items() if c.get("listed") is not None}
        outcomes = self.sync.correct(targets, observed_at, listed)
        self._wake.set()
        await self._save_beliefs()
        return outcomes

    async def import_catalog(self) -> dict[str, Any]:
        """Read the channel's catalog (SKU -> ids), persist it and adopt it; returns counts.

        Awaits the channel (many pages) and Redis before adopting, so a failure changes nothing;
        pushes meanwhile use the old map, and the new one is adopted in one step (no await).
        Retry-safe: it replaces the whole map. SKUs the new map lacks become unknown; unknown SKUs
        it now lists are pushed. Spends the channel's rate budget (one call per page).
        """
        await self._ready()
        return await self._import()

    async def _import(self) -> dict[str, Any]:
        catalog = await self.adapter.import_catalog(self.client, self.channel)
        # The import spent budget this bucket did not count: start from empty rather than guess; the
        # first push's answer (or the refill) tells the truth.
        self.bucket.correct(0.0)
        await self.store.save_catalog(catalog)
        self.sync.set_catalog(catalog)
        self._wake.set()
        return {"skus": len(catalog), "unknown": sorted(self.sync.unknown)}

    async def _import_until_done(self) -> None:
        for attempt in range(1_000_000):
            try:
                await self._import()
                return
            except Exception as exc:  # the channel may be down at start: keep trying, pending waits
                self.counters["catalog_errors"] += 1
                log.warning("channel %s: catalog import failed (%s), retrying", self.channel.id, exc)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(attempt, 6)))

    # -- drain ---------------------------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            try:
                await self._drain_step()
            except Exception:  # a bug must not stop the channel for good; pending stays durable
                self.counters["drain_errors"] += 1
                log.exception("channel %s: drain step failed", self.channel.id)
                await asyncio.sleep(1.0)

    async def _drain_step(self) -> None:
        pushes = [t for t in self._tasks if t.get_name().startswith("push")]
        if len(pushes) >= self.max_in_flight:
            await asyncio.wait(pushes, return_when=asyncio.FIRST_COMPLETED)
            return
        sends = self._next_batch()
        if not sends:
            if not await self._send_corrections():
                await self._idle()
            return
        wait = self.bucket.wait_time(self.adapter.cost(updates_of(sends)))
        if wait > 0:
            # Wait for the backlog seen now, then send what the budget affords: targets that arrived
            # meanwhile replace older ones or join if they fit. Waiting for ever larger batches would
            # trade lag for throughput without end; sending only what is affordable at once would
            # waste budget on per-call overhead (Shopify charges 10 points a call).
            self.counters["budget_waits"] += 1
            await asyncio.sleep(wait)
            sends = self._fit(self._next_batch(), self.bucket.available)
        cost = self.adapter.cost(updates_of(sends))
        if not sends or not self.bucket.try_take(cost):
            return
        self.sync.begin(sends)
        self._tasks.spawn(self._push(sends, cost)).set_name(f"push-{sends[0].sku}")

    async def _send_corrections(self) -> bool:
        """Start one correction request if the budget leaves the live lane its reserve; False if none
        is waiting. When the budget is short it naps (woken early by a notify) and returns True."""
        sends = self._next_batch(self.sync.select_corrections)
        if not sends:
            return False
        cost = self.adapter.cost(updates_of(sends))
        reserve = min(
            self.correction_reserve * self.bucket.limits.capacity, self.bucket.limits.capacity - cost
        )
        wait = self.bucket.wait_time(cost + max(0.0, reserve))
        if wait > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(wait, 5.0))
            return True
        if self.bucket.try_take(cost):
            self.sync.begin(sends)
            self.counters["correction_requests"] += 1
            self._tasks.spawn(self._push(sends, cost)).set_name(f"push-{sends[0].sku}")
        return True

    def _next_batch(self, select: Callable[[int], list[Send]] | None = None) -> list[Send]:
        """The next request's sends: one endpoint's worth, costing no more than the bucket can hold."""
        sends = (select or self.sync.select)(self.adapter.max_batch)
        group = getattr(self.adapter, "group", None)
        if sends and group is not None:
            first = {u.sku for u in group(updates_of(sends))[0]}
            sends = [s for s in sends if s.sku in first]
        # A call costing more than the channel's bucket holds would be refused every time.
        return self._fit(sends, self.bucket.limits.capacity)

    def _fit(self, sends: list[Send], budget: float) -> list[Send]:
        """The longest prefix of ``sends`` (at least one) whose request costs at most ``budget``."""
        updates = updates_of(sends)
        lo, hi = 1, len(sends)
        while lo < hi:  # cost grows with the number of updates: binary search the cut
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.adapter.cost(updates[:mid]) <= budget else (lo, mid - 1)
        return sends[:lo]

    async def _idle(self) -> None:
        """Wait for a notify, a finished push or the next retry time (checked again at least every 5 s)."""
        self._wake.clear()
        due = self.sync.next_due()
        timeout = 5.0 if due is None else min(5.0, max(0.005, due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _push(self, sends: list[Send], cost: float) -> None:
        """Send one request for ``sends`` (already ``begin``-ed) and book the answer.

        Ordering: one request per SKU is in flight (``ChannelSync``), so what is booked for a SKU
        is the answer to the only push of it. On a compare-and-set channel, SKUs answered stale
        are re-read here, before booking, so the booking adopts what the channel lists and folds in
        a sale master has not heard of (``ChannelSync.record``); their next push is a new request
        (new round, new idempotency key) sent at once. Retry safety: a push whose answer was lost is
        sent again as the same request (same key), and each write is conditional, so neither a
        repeat nor a push computed before a sale on the channel can overwrite that sale.
        """
        seq = self.budget.sent(cost)
        request: httpx.Request | None = None
        response: httpx.Response | None = None
        try:
            reply, request, response = await self._exchange(sends, seq)
            if reply.stale:
                reply = await self._reread(sends, reply)
        except Exception as exc:  # whatever happened, the sends must leave "in flight"
            log.exception("channel %s: push failed", self.channel.id)
            reply = Reply(error=f"{type(exc).__name__}: {exc}")
        finally:
            self.budget.forget(seq)
        recorded = self.sync.record(sends, reply)
        try:
            await self._persist(recorded, request, response)
        except Exception:  # Redis down: pending stays in Redis, so a restart pushes it again
            self.counters["persist_errors"] += 1
            log.exception("channel %s: persisting push results failed", self.channel.id)
        self._wake.set()

    async def _exchange(
        self, sends: list[Send], seq: int
    ) -> tuple[Reply, httpx.Request | None, httpx.Response | None]:
        reply, request, response, result = await exchange(
            self.client, self.adapter, self.channel, sends, self.counters
        )
        if result is not None:
            self._observe_budget(result, seq)
        return reply, request, response

    async def _reread(self, sends: list[Send], reply: Reply) -> Reply:
        """``reply`` with what the channel lists now for the SKUs it answered stale.

        Waits for the read's rate budget (it decides the SKUs' next push, so it goes first) and
        adopts the budget the channel reports. A channel without compare-and-set never answers
        stale; should one, its SKUs are retried as after a failed read.
        """
        cas = compare_and_set(self.adapter)
        stale = [s for s in sends if s.sku in reply.stale]
        if cas is None or not stale:
            return replace(reply, stale=dict.fromkeys(reply.stale))
        # A first miss at this version is most likely a sale master is about to report: it waits
        # for that report instead (``ChannelSync``), and only a second miss costs a read.
        first = {s.sku for s in stale if s.round == 0}
        stale = [s for s in stale if s.round > 0]
        if not stale:
            return replace(reply, stale={}, unheard=first)
        reply = replace(reply, unheard=first)
        cost = cas.read_cost(len(stale))
        while not self.bucket.try_take(cost):
            await asyncio.sleep(max(0.005, self.bucket.wait_time(cost)))
        seq = self.budget.sent(cost)
        self.counters["rereads"] += 1
        try:
            readings, result = await reread(self.client, cas, self.channel, stale)
            if result is not None:
                self._observe_budget(result, seq)
        finally:
            self.budget.forget(seq)
        return replace(reply, stale=readings)  # ``unheard`` kept from above

    def _observe_budget(self, result: PushResult, seq: int) -> None:
        """Adopt the channel's view of the budget and honour its Retry-After for the whole account."""
        r = result
        if r.budget_available is not None or r.budget_capacity or r.budget_restore_per_s:
            self.budget.answered(
                seq, r.budget_available, r.budget_capacity or None, r.budget_restore_per_s or None
            )
        if result.retry_after_s:
            self.bucket.pause_for(result.retry_after_s)

    async def _persist(
        self, recorded: Recorded, request: httpx.Request | None, response: httpx.Response | None
    ) -> None:
        if recorded.acked:
            await self.store.settle(recorded.acked)
        await self._save_beliefs()
        if recorded.dead:
            await self.store.dead_letter(
                [dlq_entry(self.channel.id, d, request, response) for d in recorded.dead]
            )

    # -- reading and admin ---------------------------------------------------------------------------

    async def status(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        """Per SKU ``{listed, buffer, synced_version, last_push_at}`` (None values if never synced)."""
        await self._ready()
        return {sku: self.sync.status(sku) for sku in skus}

    async def fold_log(self, skus: list[str] | None = None) -> list[dict[str, Any]]:
        """Recent fold events (folded, paid, adopted, cleared), oldest first, of ``skus`` or all:
        why this channel lists less than master allows, for diagnosis."""
        await self._ready()
        wanted = None if skus is None else set(skus)
        return [e for e in self.sync.fold_log if wanted is None or e["sku"] in wanted]

    async def stats(self) -> dict[str, Any]:
        """Counters: requests, throttled (429 / Throttled answers), retries, dead_letters,
        unknown_skus, pending, in_flight, coalesced, stale, skipped_source, budget state."""
        await self._ready()
        catalog = self.sync.catalog
        return {
            "channel": self.channel.id,
            "kind": self.channel.kind,
            "pid": os.getpid(),
            **self.sync.stats(),
            **self.counters,
            "catalog_skus": None if catalog is None else len(catalog),
            "budget_available": self.bucket.available,
            "budget_rate": self.bucket.limits.rate,
            "budget_capacity": self.bucket.limits.capacity,
        }

    async def idle(self) -> bool:
        """True when nothing is pending or in flight (a test's or benchmark's quiescence check)."""
        await self._ready()
        return self.sync.idle

    async def dlq_list(self, limit: int = 100) -> list[dict[str, Any]]:
        """This channel's dead letters, oldest first (see ``engine.store.channel_store.decode_dlq``)."""
        await self._ready()
        return await self.store.dlq(limit)

    async def dlq_redrive(self) -> dict[str, int]:
        """Queue every dead-lettered SKU of this channel again (newest target each), then remove them.

        Awaits Redis after deciding in memory: first the targets are made durable, then the entries
        deleted, so a crash in between leaves entries that a second redrive finds obsolete or queues
        again (retry-safe). Entries older than what the channel has since synced are dropped as
        obsolete; entries written while this runs stay for the next redrive.
        """
        await self._ready()
        entries = await self.store.dlq(limit=1 << 62)
        newest: dict[str, Target] = {}
        for entry in entries:
            target = Target.decode(entry["target"])
            if entry["sku"] not in newest or target.version > newest[entry["sku"]].version:
                newest[entry["sku"]] = target
        offered = self.sync.redrive(newest)
        await self._save(offered)
        removed = await self.store.dlq_delete([e["id"] for e in entries])
        requeued = len(offered.persist)
        return {"entries": removed, "requeued": requeued, "obsolete": len(newest) - requeued}
