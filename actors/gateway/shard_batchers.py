"""One micro-batcher per shard, so a shard that is slow or restarting holds up only its own events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from actors.gateway.batcher import DEFAULT_MAX_INFLIGHT, BatcherClosed, MicroBatcher, Overloaded, SubmitFn
from engine.config import GatewayConfig
from engine.decisions import WireDecision
from engine.events import WireEvent
from engine.partition import by_owner, join

DEFAULT_MAX_PENDING: int = GatewayConfig.model_fields["max_pending_events"].default


class ShardBatchers:
    """Splits each caller's events by owning shard and queues each part on that shard's batcher.

    Why not one batcher for all shards: a flush then waited for every shard it touched, and at most
    ``max_inflight`` flushes could be unanswered. When a shard was killed under 1,000 webhooks/s,
    every flush in flight waited for its restart and no new flush could leave, so the webhooks of
    the healthy shard waited too (every answer for about 1.1 s; ``benchmarks/failover.py``). With a
    batcher per shard, each has its own in-flight budget and answers its callers as soon as its
    shard has decided. A request whose events span shards still answers when all its parts are
    decided (``engine.partition.join`` merges its parts' decisions, as for a ``ShardClient`` flush).

    ``submit`` receives events that all belong to one shard; a ``ShardClient`` routes them there.
    """

    def __init__(
        self,
        submit: SubmitFn,
        shard_of: Callable[[str], int],
        shards: int,
        max_events: int = 512,
        max_wait_ms: float = 2.0,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        vshard_of: Callable[[str], int] | None = None,
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be >= 1")
        self.shard_of = shard_of
        self.vshard_of = vshard_of
        """A SKU's virtual shard: an event split across shards carries every vshard it touches."""
        self.batchers = [
            MicroBatcher(submit, max_events, max_wait_ms, None, max_inflight) for _ in range(shards)
        ]
        self._closed = False

    @property
    def pending(self) -> int:
        """Events waiting for a flush, all shards."""
        return sum(b.pending for b in self.batchers)

    @property
    def inflight(self) -> int:
        """Flushes submitted and not yet answered, all shards."""
        return sum(b.inflight for b in self.batchers)

    @property
    def outstanding(self) -> int:
        """Events taken and not yet answered, all shards."""
        return sum(b.outstanding for b in self.batchers)

    @property
    def flushes(self) -> int:
        """Flushes so far, all shards."""
        return sum(b.flushes for b in self.batchers)

    def admit(self, events: list[WireEvent], bound: int = DEFAULT_MAX_PENDING) -> None:
        """Raise ``Overloaded`` if a shard that ``events`` touch has ``bound`` or more events
        waiting for a flush (``gateway.max_pending_events``); otherwise return.

        Events wait here only while all of a shard's ``max_inflight`` flushes are unanswered, so
        the count grows when that shard cannot keep up, not when the gateway's own CPU is the
        limit. Events in flight are not counted: a 503 costs the gateway about as much CPU as a
        200 (verify, parse), so refusing when the gateway itself is the bottleneck only starves
        what it admitted. With a bound of 64 that counted them (``benchmarks/overload.py``, 900
        connections), 86 % of requests were refused at 1x the capacity and 87 a second admitted at
        2x, their p99 29 s; counting only waiting events, no request was refused and 3,976 a
        second were admitted at 2x. Call it right before ``submit`` with no ``await`` between
        them: ``submit`` queues the events before it first awaits, so no other request can slip in
        between and the queue passes ``bound`` by at most one request. Per shard: a shard that is
        slow or restarting refuses only the requests that need it.
        """
        self.admit_skus(_skus(events), bound)

    def admit_skus(self, skus: Iterable[str], bound: int = DEFAULT_MAX_PENDING) -> None:
        """``admit`` for requests named by their SKUs (``POST /v1/orders`` checks before it writes)."""
        # The common case (no shard at the bound) costs one comparison per shard, no routing.
        over = [i for i, b in enumerate(self.batchers) if b.pending >= bound]
        if not over:
            return
        touched = {self.shard_of(sku) for sku in skus}
        for shard in over:
            if shard in touched:
                raise Overloaded(shard, self.batchers[shard].pending)

    async def submit(self, events: list[WireEvent]) -> list[WireDecision]:
        """Decide ``events``; returns their decisions in order once every part is durable.

        Raises ``BatcherClosed`` while draining, and whatever a shard's flush raised (the parts on
        other shards may have been decided: a retry with the same keys gets the same answers).
        """
        if self._closed:
            raise BatcherClosed("gateway is shutting down")
        if not events:
            return []
        per_shard = by_owner(events, self.shard_of, self.vshard_of)
        if len(per_shard) == 1:
            [(shard, items)] = per_shard.items()
            if len(items) == len(events):
                # the common case (a webhook's events on one shard, none split): no merge needed
                return await self.batchers[shard].submit(events)
        # Every part is queued before the first await (see ``admit``).
        futures = [self.batchers[shard].enqueue([p for _, p in items]) for shard, items in per_shard.items()]
        answers = await asyncio.gather(*futures)
        return join(events, per_shard, answers)

    async def drain(self) -> None:
        """Stop taking events on every shard, flush what is queued, and wait for every answer."""
        self._closed = True
        await asyncio.gather(*(b.drain() for b in self.batchers))


def _skus(events: list[WireEvent]) -> Iterable[str]:
    """Every SKU the events name (an order's lines, a cancel's SKUs, or the one SKU)."""
    for ev in events:
        if "lines" in ev:
            yield from (line["sku"] for line in ev["lines"])
        elif "skus" in ev:
            yield from ev["skus"]
        else:
            yield ev["sku"]
