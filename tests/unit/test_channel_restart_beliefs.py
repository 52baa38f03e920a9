"""A compare-and-set channel that restarts still ends listing what master allows.

Found by the chaos soak (seed 1, 2026-12-06): the worker node died under a channel actor whose
durable belief for a SKU was older than the listing (an own sale heard in memory only); the new
activation's first push was stale, its re-read was folded as a sale master had not heard of, and
since master had heard of it no change ever paid the fold off: the channel listed one unit less
than master for good, and every later own sale moved the error along instead of removing it.

The channel here is strict: it writes only when the listing holds what the push expected. The
durable side is the real ``ChannelStore`` scripts over fakeredis, written exactly where the actor
writes (``offer`` -> pending / settled, ``record`` -> acked, and ``take_beliefs`` after both).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import fakeredis

from engine.backoff import Backoff
from engine.buffer_rules import BufferRules
from engine.channel_records import Offered, Recorded, Reply
from engine.channel_sync import ChannelSync
from engine.store.channel_store import ChannelStore
from engine.store.keys import Keys
from tests.unit.clock import FakeClock

ME = "shop"


def change(
    available: int, version: int, since: int | None, at: float | None = None, **sold: int
) -> dict[str, Any]:
    """A shard's change; ``source`` is the channel of its newest event, as the ledger sets it."""
    source = list(sold)[-1] if sold else None
    return {"available": available, "version": version, "source": source, "at": at, "since": since,
            "sold": sold or None}  # fmt: skip


class Actor:
    """``ChannelSync`` plus the durable writes the channel actor makes, against one listing."""

    def __init__(self, store: ChannelStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        self.sync = ChannelSync(ME, BufferRules(), Backoff(1.0, 8.0, 3, rng=random.Random(3)), clock)

    async def start(self) -> None:
        self.sync.restore(*await self.store.load())
        self.sync.set_catalog({"A": {"id": "A"}})

    async def notify(self, changes: dict[str, dict[str, Any]]) -> Offered:
        offered = self.sync.offer(changes)
        await self.store.put_pending(offered.persist)
        await self.store.settle(offered.settled)
        await self.store.settle(self.sync.take_beliefs())
        return offered

    async def record(self, sends: Any, reply: Reply) -> Recorded:
        recorded = self.sync.record(sends, reply)
        await self.store.settle(recorded.acked)
        await self.store.settle(self.sync.take_beliefs())
        return recorded


class Listing:
    """The marketplace's side: a quantity written only if it holds what the push expected."""

    def __init__(self, quantity: int) -> None:
        self.quantity = quantity
        self.writes: list[int] = []

    async def drain(self, actor: Actor, crash_in_flight: bool = False) -> None:
        """Push until nothing is waiting; every stale answer comes re-read. ``crash_in_flight``:
        the first push lands but its answer is never booked (the actor dies with it in flight)."""
        for _ in range(20):
            sends = actor.sync.select(10)
            if not sends:
                return
            actor.sync.begin(sends)
            [send] = sends
            if send.expected is not None and send.expected != self.quantity:
                await actor.record(sends, Reply(stale={"A": self.quantity}))
                continue
            self.quantity = send.quantity
            self.writes.append(send.quantity)
            if crash_in_flight:
                return
            await actor.record(sends, Reply(ok=["A"]))
        raise AssertionError("the channel never settled")


def durable() -> ChannelStore:
    return ChannelStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()), Keys("u"), ME)


def test_a_restored_belief_that_a_reread_contradicts_is_adopted_not_folded() -> None:
    async def go() -> None:
        store, clock, listing = durable(), FakeClock(), Listing(0)
        first = Actor(store, clock)
        await first.start()
        await first.notify({"A": change(25, 1, 0)})
        await listing.drain(first)
        assert listing.quantity == 25
        # The push of a woo sale lands, and the actor dies before it books the answer: the
        # durable belief stays 25 while the channel lists 24.
        await first.notify({"A": change(24, 2, 1, woo=1)})
        await listing.drain(first, crash_in_flight=True)
        assert listing.quantity == 24

        second = Actor(store, clock)
        await second.start()
        # The shard restarted too and republishes its state (no ``since``: versions skipped).
        await second.notify({"A": change(23, 3, None)})
        await listing.drain(second)
        assert listing.quantity == 23, listing.writes  # the old code folded 24 vs 25 and wrote 22
        # A later own sale and another channel's: still exactly master's quantity.
        listing.quantity -= 1
        await second.notify({"A": change(22, 4, 3, shop=1)})
        await second.notify({"A": change(21, 5, 4, woo=1)})
        await listing.drain(second)
        assert listing.quantity == 21, listing.writes

    asyncio.run(go())


def test_a_fold_paid_while_a_push_waits_stays_paid_after_a_restart() -> None:
    async def go() -> None:
        store, clock, listing = durable(), FakeClock(), Listing(0)
        first = Actor(store, clock)
        await first.start()
        await first.notify({"A": change(10, 1, 0)})
        await listing.drain(first)
        listing.quantity -= 1  # a sale on the channel whose webhook is late
        await first.notify({"A": change(9, 2, 1, woo=1)})
        await listing.drain(first)
        assert listing.quantity == 8  # master's 9 less the sale it has not heard of: folded
        # The late webhook arrives together with another channel's sale; the push of the new
        # target has not been answered when the actor dies.
        await first.notify({"A": change(7, 4, 2, shop=1, woo=1)})
        assert first.sync.synced["A"].folded == 0
        second = Actor(store, clock)
        await second.start()
        assert second.sync.synced["A"].folded == 0  # the payment was durable, not memory only
        await listing.drain(second)
        assert listing.quantity == 7, listing.writes  # a lost payment listed 6 for good

    asyncio.run(go())


def test_a_real_unheard_sale_met_at_a_restart_is_listed_again_only_until_master_hears_of_it() -> None:
    """The price of adopting: a sale the channel made while the actor was down and master has
    not heard of is overwritten once; when its webhook is decided the listing comes right."""

    async def go() -> None:
        store, clock, listing = durable(), FakeClock(), Listing(0)
        first = Actor(store, clock)
        await first.start()
        await first.notify({"A": change(10, 1, 0)})
        await listing.drain(first)
        second = Actor(store, clock)
        await second.start()
        sold_at = clock() - 5.0
        listing.quantity -= 1  # sold on the channel while the actor was down; its webhook is late
        await second.notify({"A": change(9, 2, 1, woo=1)})
        await listing.drain(second)
        assert listing.quantity == 9  # adopted: the unheard sale's unit is listed again
        clock.advance(1.0)
        # Master hears of it in one change with a restock and a later sale on another channel (the
        # newest event's channel and time are woo's, and master's drop is exactly our sale): whether
        # our write came after the sale is unknown, so the change is pushed rather than settled,
        # and the push's stale answer sets the belief right.
        await second.notify({"A": change(8, 3, 2, sold_at, shop=1, woo=1)})
        await listing.drain(second)
        assert listing.quantity == 8, listing.writes  # settled, it stayed 9

    asyncio.run(go())
