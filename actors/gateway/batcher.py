"""Micro-batcher: events of concurrent requests go to the shards in one submission per flush."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from engine.config import GatewayConfig
from engine.decisions import WireDecision
from engine.events import WireEvent

SubmitFn = Callable[[list[WireEvent]], Awaitable[tuple[list[WireDecision], dict[str, Any]]]]
"""``ShardClient.submit_async``: decisions in event order, plus the SKUs whose quantity changed."""
ChangedFn = Callable[[dict[str, Any]], None]
DEFAULT_MAX_INFLIGHT: int = GatewayConfig.model_fields["batch_max_inflight"].default
"""Unanswered flushes before a batch waits for one of them (``gateway.batch_max_inflight``, per shard).
The gateway runs one batcher per shard (``actors.gateway.shard_batchers``), so this is per shard;
the measurements below were made with one batcher for all shards, whose flushes went to both.
Two while every flush was a Ray call per shard (see ``MicroBatcher``); with direct links
(``actors.shard_link``) a flush costs a fraction of that: four beat two (three alternating runs
each on the EPYC, p99 at 2,000/s 40 / 61 / 35 vs 59 / 49 / 44 ms), and once the shards' Redis
calls no longer went through redis-py's client (``engine.store.script_conn``), eight beat four:
six alternating runs each of ``skusync serve`` at 2,000 webhooks/s, p99 median 40 vs 56 ms (eight
lower in five of the six pairs), p50 median 6.8 vs 9.3 ms, the same CPU per webhook (750-802 vs
767-788 us for the whole machine) and the same capacity at 64 connections (2,691-2,943 vs
2,497-3,011/s). The runs are noisy; every pair favoured eight but one."""
RETRY_AFTER_S = 1
"""``Retry-After`` of an overload refusal: a backlog at the bound drains in well under a second
when the shards are merely slower than the offered load (marketplaces keep their own schedule)."""


class BatcherClosed(RuntimeError):
    """The batcher is draining for shutdown and takes no new events."""


class Overloaded(RuntimeError):
    """Too many events wait for the shards: refuse the request (503) before anything is decided."""

    def __init__(self, shard: int, waiting: int, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(f"shard {shard} has {waiting} events waiting; retry later")
        self.shard, self.waiting, self.retry_after_s = shard, waiting, retry_after_s


class _Waiter:
    """One caller's share of a pending batch: where its events start, how many, and its answer."""

    __slots__ = ("count", "future", "start")

    def __init__(self, start: int, count: int, future: asyncio.Future[list[WireDecision]]) -> None:
        self.start, self.count, self.future = start, count, future


Batch = tuple[list[WireEvent], list[_Waiter]]


class MicroBatcher:
    """Groups events from concurrent callers and submits them together.

    A batch is closed when it holds ``max_events`` events, or ``max_wait_ms`` after its first
    event; it leaves only while fewer than ``max_inflight`` flushes are unanswered, otherwise it
    waits for one of them to be answered (closed batches leave oldest first; a batch closed by
    the timer keeps filling while it waits, up to ``max_events``). One ``submit`` call per flush,
    and each caller gets exactly the decisions of its own events. Several flushes run concurrently
    (the shards decide batch k+1 while batch k is being written). A failed flush fails exactly its
    own callers. The events of one ``submit`` call always travel in one flush, so a request is
    never split across two (a single call larger than ``max_events`` makes one larger batch).

    Why the in-flight cap: every flush has a fixed cost per shard whatever its size (as Ray calls,
    measured at about 0.7 ms of gateway CPU per call and 1.4 ms of shard CPU per small batch on the
    2-core development machine). Flushing on the timer alone, 1,000 webhooks/s went out in batches
    of about two events and those fixed costs saturated the machine (p50 34 ms, p99 164 ms); with
    a cap, batches grow with the load instead (p50 9-13 ms, p99 23-29 ms at the same rate). At low
    load the timer alone decides: one round trip plus ``max_wait_ms``. The cap holds for batches
    closed by size too: before, each full batch left at once, so a shard that fell behind was sent
    ever more concurrent batches (50 in flight with a cap of 1) and its backlog grew without
    bound; now the backlog stays here, counted by ``pending``, where ``ShardBatchers.admit``
    refuses new requests once it reaches a bound.
    """

    def __init__(
        self,
        submit: SubmitFn,
        max_events: int = 512,
        max_wait_ms: float = 2.0,
        on_changed: ChangedFn | None = None,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> None:
        if max_events < 1 or max_wait_ms < 0 or max_inflight < 1:
            raise ValueError("max_events and max_inflight must be >= 1, max_wait_ms >= 0")
        self._submit = submit
        self.max_events = max_events
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_inflight = max_inflight
        self.on_changed = on_changed
        """Called with each flush's changed SKUs: the hook the channel actors will use."""
        self._events: list[WireEvent] = []
        self._waiters: list[_Waiter] = []
        self._ready: deque[Batch] = deque()
        """Full batches waiting for a free in-flight slot, oldest first."""
        self._ready_events = 0
        self._inflight_events = 0
        self._timer: asyncio.TimerHandle | None = None
        self._due = False
        """The filling batch has waited ``max_wait_ms`` and goes as soon as a slot is free."""
        self._inflight: set[asyncio.Task[None]] = set()
        self._closed = False
        self.flushes = 0
        self.peak_inflight = 0
        """Most flushes ever unanswered at once (never above ``max_inflight``)."""

    @property
    def pending(self) -> int:
        """Events waiting for their batch to be flushed."""
        return len(self._events) + self._ready_events

    @property
    def inflight(self) -> int:
        """Flushes submitted and not yet answered."""
        return len(self._inflight)

    @property
    def outstanding(self) -> int:
        """Events taken and not yet answered: waiting for a flush or in one."""
        return self.pending + self._inflight_events

    async def submit(self, events: list[WireEvent]) -> list[WireDecision]:
        """Decide ``events`` in some batch; returns their decisions in order once they are durable.

        Raises ``BatcherClosed`` while draining, and whatever the submit function raised for the
        flush that carried these events.
        """
        if not events:
            return []
        return await self.enqueue(events)

    def enqueue(self, events: list[WireEvent]) -> asyncio.Future[list[WireDecision]]:
        """Queue non-empty ``events`` now (no ``await``, so an admission check just before holds)
        and return the future of their decisions; ``submit`` awaits it."""
        if self._closed:
            raise BatcherClosed("gateway is shutting down")
        loop = asyncio.get_running_loop()
        if self._events and len(self._events) + len(events) > self.max_events:
            self._close_batch()  # keep this caller's events together in the next batch
        future: asyncio.Future[list[WireDecision]] = loop.create_future()
        self._waiters.append(_Waiter(len(self._events), len(events), future))
        self._events.extend(events)
        if len(self._events) >= self.max_events:
            self._close_batch()
        elif self._timer is None and not self._due:
            self._timer = loop.call_later(self.max_wait_s, self._on_timer)
        return future

    def _on_timer(self) -> None:
        self._timer = None
        self._due = True
        self._pump()

    def _on_answered(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._pump()

    def _close_batch(self) -> None:
        """The filling batch is full: queue it behind the other full ones and start a new one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        if self._events:
            self._ready.append((self._events, self._waiters))
            self._ready_events += len(self._events)
            self._events, self._waiters = [], []
        self._pump()

    def _pump(self) -> None:
        """Send batches, oldest first, while an in-flight slot is free."""
        while len(self._inflight) < self.max_inflight:
            if self._ready:
                events, waiters = self._ready.popleft()
                self._ready_events -= len(events)
            elif self._due and self._events:
                events, waiters = self._events, self._waiters
                self._events, self._waiters, self._due = [], [], False
            else:
                return
            self._launch(events, waiters)

    def _launch(self, events: list[WireEvent], waiters: list[_Waiter]) -> None:
        self.flushes += 1
        self._inflight_events += len(events)
        task = asyncio.get_running_loop().create_task(self._run(events, waiters))
        self._inflight.add(task)
        self.peak_inflight = max(self.peak_inflight, len(self._inflight))
        task.add_done_callback(self._on_answered)

    async def _run(self, events: list[WireEvent], waiters: list[_Waiter]) -> None:
        try:
            decisions, changed = await self._submit(events)
        except asyncio.CancelledError:
            for w in waiters:
                w.future.cancel()
            raise
        except Exception as exc:
            for w in waiters:
                if not w.future.done():  # a caller that went away has a cancelled future
                    w.future.set_exception(exc)
            return
        finally:
            self._inflight_events -= len(events)
        for w in waiters:
            if not w.future.done():
                w.future.set_result(decisions[w.start : w.start + w.count])
        if changed and self.on_changed is not None:
            self.on_changed(changed)

    async def drain(self) -> None:
        """Stop taking events, flush what is queued (still within the in-flight cap), and wait
        until every flush has been answered."""
        self._closed = True
        self._close_batch()
        while self._inflight or self._ready:
            await asyncio.gather(*self._inflight, return_exceptions=True)
            self._pump()
