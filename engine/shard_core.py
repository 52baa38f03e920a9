"""One shard's decision loop without Ray: read, decide, commit in order, answer.

The Ray actor in ``actors.shard`` is a thin shell around this class, so everything here is tested
against a real Redis without a cluster. Batches overlap: while batch k is being written, batch k+1
is read and decided on top of k's staged state. Commits leave in decision order from one task
(group commit: whatever queued while a write was in flight goes in the next pipeline), and a
batch is answered only after its own commit returns.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from engine.ledger import Clock, Ledger, Plan
from engine.routing import ShardMap
from engine.store import FencedError, Keys, OrderWindows, ShardStore, StoreUnavailable
from engine.wire import WireDecision, WireEvent

GC_THRESHOLDS = (300_000, 20, 100)
"""The collector's young generation counts tracked objects allocated minus freed, and a batch in
flight holds tens of thousands (events, decisions, records to write). Batches leave no reference
cycles (see ``engine.rules.RULES``), so they are freed by reference counting and a collection only
finds them alive and scans them for nothing (17-25 ms per collection of ~120,000 objects). With the
default 700, and with 50,000, collections ran every few batches (15 per 200,000 decisions, 1.7 us
of collector time per decision); with 300,000, once while the working set first fills."""

GROUP_DECISIONS = 2_000
"""Decisions per commit round trip, at most one batch over. Redis runs one client's pipeline to
the end before it reads another's: an unbounded group (everything decided while the last commit
ran) held the next batch's read behind it, so deciding and writing alternated instead of
overlapping. Measured with one shard and 2,000-event batches: 41,000 -> 60,000 decisions/s."""

MAX_PENDING_PLANS = 64
"""Batches decided and not yet committed at which the next batch waits (after its read, before
deciding) until commits drain. Without it, callers that send faster than Redis commits (several
gateways, or Ray calls, which nothing caps) grew the pending list, and the memory held by every
plan in it, without bound. 64 plans is eight gateways each at their default eight flushes in
flight, and several commit groups (``GROUP_DECISIONS``) of 512-event batches: enough that
deciding never waits for a commit under normal load."""


@dataclass
class BatchResult:
    """Decisions in event order, plus SKUs whose available quantity changed (for the channels)."""

    decisions: list[WireDecision]
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)


class ShardCore:
    """Master stock for the vshards of physical shard ``shard``. Runs on one event loop."""

    def __init__(
        self,
        shard: int,
        shard_map: ShardMap,
        client: aioredis.Redis,
        keys: Keys,
        idem_ttl_s: int = 72 * 3600,
        audit_maxlen: int = 100_000,
        clock: Clock = time.time,
        max_pending_plans: int = MAX_PENDING_PLANS,
        windows: OrderWindows | None = None,
    ) -> None:
        if max_pending_plans < 1:
            raise ValueError("max_pending_plans must be >= 1")
        self.shard = shard
        self.shard_map = shard_map
        self.clock = clock
        self.ledger = Ledger(shard_map, clock)
        self.store = ShardStore(
            client,
            keys,
            shard,
            shard_map.owned(shard),
            idem_ttl_s=idem_ttl_s,
            park_ttl_s=idem_ttl_s,
            audit_maxlen=audit_maxlen,
            windows=windows,
        )
        self.loaded_in_s = 0.0
        self.generation = 0
        """Bumped on every reload: a batch read under an older generation is read again."""
        self.fenced = False
        self._stale = False
        self._reloading: asyncio.Future[None] | None = None
        self._queue: deque[tuple[Plan, asyncio.Future[None]]] = deque()
        self._wake = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self.max_pending_plans = max_pending_plans
        self._drained = asyncio.Event()
        """Set whenever commits (or a failed commit) removed plans from the pending list."""
        self.pending_peak = 0
        """Most plans ever pending at once in this activation (never above ``max_pending_plans``)."""

    async def start(self) -> ShardCore:
        """Fence older activations, then load every owned SKU (so nothing older writes after the load)."""
        t0 = time.perf_counter()
        await self.store.check_layout(self.shard_map.vshards)
        await self.store.claim()
        await self._load()
        self.loaded_in_s = time.perf_counter() - t0
        self._committer = asyncio.get_running_loop().create_task(self._commit_loop())
        return self

    async def _load(self) -> None:
        self.ledger.records = await self.store.load()
        # Resident records never die; keeping them out of the collector's sweeps keeps GC pauses
        # proportional to one batch, not to the catalog.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    async def apply_batch(self, events: list[WireEvent]) -> BatchResult:
        """Decide a batch and return once it is durable (see ``actors.shard.SkuShard.apply_batch``)."""
        if not events:
            return BatchResult([])
        parts = self.ledger.split(events)
        while True:
            # Wait before the read too: a read in flight keeps every plan applied meanwhile in
            # memory (``Ledger.recent``), so batches queued for room should not hold one open.
            await self._room()
            await self._ensure_fresh()
            generation = self.generation
            idem, orders = self.ledger.missing(parts)
            since = self.ledger.begin_read()
            try:
                fetched = await self.store.fetch(idem, orders, since)
                # Room may have gone while we read; waiting here is like a slower read (``since``).
                await self._room()
            except BaseException:
                self.ledger.end_read(since)
                raise
            if generation == self.generation and not self._stale:
                break  # nothing was reloaded while we read: what we read is consistent with memory
            self.ledger.end_read(since)
        # From here to the enqueue there is no await: the decision is atomic on this loop.
        try:
            plan = self.ledger.decide(events, parts, fetched)
        finally:
            self.ledger.end_read(since)
        # Taken now: once applied and no longer needed by a read, the ledger empties the plan.
        result = BatchResult(plan.decisions, plan.changed)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending_peak = max(self.pending_peak, len(self.ledger.pending))
        self._queue.append((plan, done))
        self._wake.set()
        await done
        return result

    async def _room(self) -> None:
        """Return once fewer than ``max_pending_plans`` plans are pending; the caller decides
        without awaiting after this, so the bound holds exactly."""
        while len(self.ledger.pending) >= self.max_pending_plans:
            self._drained.clear()
            await self._drained.wait()

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._commit_group(self._next_group())

    def _next_group(self) -> list[tuple[Plan, asyncio.Future[None]]]:
        """The oldest queued plans, up to about ``GROUP_DECISIONS`` decisions (at least one plan)."""
        group, size = [], 0
        while self._queue and size < GROUP_DECISIONS:
            plan, done = self._queue.popleft()
            group.append((plan, done))
            size += len(plan.decisions)
        return group

    async def _commit_group(self, group: list[tuple[Plan, asyncio.Future[None]]]) -> None:
        try:
            await self.store.commit([plan.writes for plan, _ in group])
        except Exception as exc:  # every failure fails its batches; none is swallowed
            self._fail_from(group[0][0], exc, group)
            return
        for plan, done in group:
            self.ledger.apply(plan)
            if not done.done():
                done.set_result(None)
        self._drained.set()

    def _fail_from(self, plan: Plan, exc: Exception, group: list[tuple[Plan, asyncio.Future[None]]]) -> None:
        """A commit failed: drop it and everything decided after it, and reload before deciding again."""
        self.ledger.discard(plan)
        if isinstance(exc, FencedError):
            self.fenced = True
        self._stale = True
        waiting = group + list(self._queue)
        self._queue.clear()
        self._drained.set()  # the waiters go on to reload (``_ensure_fresh``) or learn they are fenced
        for _, done in waiting:
            if not done.done():
                done.set_exception(exc)

    async def _ensure_fresh(self) -> None:
        """After a failed commit, fence off this shard's earlier commits, then reload stock (once).

        The failed commit may have landed, or may land later: one given up on a timeout can still
        reach Redis. Loading first would miss it if it ran after the load, and the next commit
        from memory would overwrite its stock while its idempotency records say "accepted" (a
        sale counted on one side only). ``ShardStore.reclaim`` takes a new epoch first; Redis
        runs scripts one at a time, so the old commit either ran before it (the load sees it) or
        finds its token replaced and writes nothing. If a newer activation owns a vshard, this
        shard is fenced for good rather than taking it back.
        """
        if self.fenced:
            raise FencedError(f"shard {self.shard} was superseded by a newer activation")
        while self._stale:
            if self._reloading is None:
                self._reloading = asyncio.get_running_loop().create_future()
                try:
                    await self.store.reclaim()
                    await self._load()
                    self.generation += 1
                    self._stale = False
                    self._reloading.set_result(None)
                except FencedError as exc:
                    self.fenced = True
                    self._reloading.set_exception(exc)  # waiters raise it too
                    self._reloading.exception()
                    raise
                except Exception as exc:
                    self._reloading.set_exception(exc)
                    self._reloading.exception()  # retrieved here; waiters get their own error below
                    raise StoreUnavailable(f"reload after failed commit: {exc}") from exc
                finally:
                    self._reloading = None
            else:
                await asyncio.shield(self._reloading)

    def get(self, sku: str) -> dict[str, Any] | None:
        """The committed record of one SKU, or ``None`` if this shard has never seen it."""
        rec = self.ledger.records.get(sku)
        if rec is None:
            return None
        return {
            "sku": sku,
            "available": rec.available,
            "on_hand": rec.on_hand,
            "reserved": rec.reserved,
            "version": rec.version,
        }

    def resident(self) -> dict[str, dict[str, Any]]:
        """Every committed SKU as a channel change (``available``, ``version``, no source).

        Published when a shard starts, so changes a previous activation committed but never
        handed to the channels still reach them; channels drop the versions they already have.
        """
        return {
            sku: {"available": rec.available, "version": rec.version, "source": None}
            for sku, rec in self.ledger.records.items()
        }

    def stats(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "skus": len(self.ledger.records),
            "epoch": self.store.token,
            "loaded_in_s": self.loaded_in_s,
            "pending": len(self.ledger.pending),
            "pending_peak": self.pending_peak,
            "applied": self.ledger.applied,
        }
