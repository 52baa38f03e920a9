"""A channel tells its own sales apart from the others' through coalesced changes, and a
compare-and-set miss waits to hear of the sale behind it before it costs a re-read.

Under a flash sale the shard joins several decisions on one SKU into one change and the fan-out
joins changes between deliveries; a channel that could not see its own sales in such a change had
to leave its belief alone, and its next compare-and-set push was stale (then every SKU riding in
that all-or-nothing request was refused with it)."""

from __future__ import annotations

import random
from typing import Any

from engine.backoff import Backoff
from engine.buffer_rules import BufferRules
from engine.channel_records import Reply
from engine.channel_sync import ChannelSync
from engine.ledger import Fetched, Ledger, Plan
from engine.outbox import ChangeOutbox
from engine.routing import ShardMap
from tests.unit.clock import FakeClock

ME = "shop"


def change(available: int, version: int, since: int | None, **sold: int) -> dict[str, Any]:
    return {"available": available, "version": version, "source": None, "since": since, "sold": sold or None}


def synced_at(listed: int, version: int = 1) -> tuple[ChannelSync, FakeClock]:
    clock = FakeClock()
    sync = ChannelSync(ME, BufferRules(), Backoff(1.0, 8.0, 3, rng=random.Random(3)), clock, hear_wait_s=1.0)
    sync.set_catalog({"A": {"id": "A"}, "B": {"id": "B"}, "C": {"id": "C"}})
    for sku in ("A", "B", "C"):
        sync.offer({sku: change(listed, version, version - 1)})
    sends = sync.select(10)
    sync.begin(sends)
    sync.record(sends, Reply(ok=[s.sku for s in sends]))
    return sync, clock


# -- the shard says which channels sold in a change -------------------------------------------------
def decided(led: Ledger, events: list[dict[str, Any]]) -> Plan:
    parts = led.split(events)
    idem, orders = led.missing(parts)
    since = led.begin_read()
    try:
        plan = led.decide(events, parts, Fetched(dict.fromkeys(idem), dict.fromkeys(orders), since))
    finally:
        led.end_read(since)
    return plan


def sale(key: str, order_id: str, channel: str, quantity: int = 1) -> dict[str, Any]:
    lines = [{"sku": "A", "quantity": quantity}]
    return {"kind": "order_placed", "key": key, "channel": channel, "order_id": order_id, "lines": lines}


def test_one_change_for_several_decisions_names_the_units_each_channel_sold() -> None:
    led = Ledger(ShardMap(1), clock=lambda: 1000.0)
    led.apply(decided(led, [{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}]))
    plan = decided(
        led,
        [
            sale("k1", "1", ME, 2),
            sale("k2", "2", "woo"),
            {"kind": "stock_adjusted", "key": "r", "sku": "A", "delta": 5, "reason": "restock"},
            sale("k3", "3", ME),
        ],
    )
    a = plan.changed["A"]
    assert (a["available"], a["version"], a["since"]) == (11, 5, 1)
    assert a["sold"] == {ME: 3, "woo": 1}  # the restock is nobody's sale


def test_an_own_checkout_is_not_a_sale_the_marketplace_made_on_its_listing() -> None:
    led = Ledger(ShardMap(1), clock=lambda: 1000.0)
    led.apply(decided(led, [{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}]))
    plan = decided(led, [{"kind": "stock_adjusted", "key": "a", "sku": "A", "delta": -2, "reason": "count"}])
    assert plan.changed["A"]["sold"] is None and plan.changed["A"]["since"] == 1


# -- the fan-out keeps that through its own coalescing ------------------------------------------
def test_the_outbox_joins_changes_whose_ranges_meet_and_sums_the_sales() -> None:
    box = ChangeOutbox()
    box.add({"A": change(9, 2, 1, shop=1)})
    box.add({"A": change(7, 4, 2, shop=1, woo=1)})
    assert box.take() == {"A": change(7, 4, 1, shop=2, woo=1)}
    box.add({"A": change(5, 6, 5, woo=2)})  # version 5 never reached this outbox: a gap
    assert box.take() == {"A": change(5, 6, 5, woo=2)}


def test_a_failed_delivery_restored_under_a_newer_change_is_joined_below_it() -> None:
    box = ChangeOutbox()
    box.add({"A": change(9, 2, 1, shop=1)})
    taken = box.take()
    box.add({"A": change(8, 3, 2, woo=1)})
    box.restore(taken)
    assert box.take() == {"A": change(8, 3, 1, shop=1, woo=1)}


# -- the channel books exactly its own units --------------------------------------------------------
def test_a_joined_change_books_only_this_channels_units_as_heard() -> None:
    sync, _ = synced_at(10)
    sync.offer({"A": change(6, 4, 1, shop=1, woo=3)})
    assert sync.heard == {"A": 1} and sync.unsure == {}
    assert sync.expected("A") == 9  # the store took its own sale off; the others' are ours to push


def test_a_change_after_a_gap_is_still_unsure() -> None:
    sync, _ = synced_at(10)
    sync.offer({"A": change(6, 4, 2, shop=1, woo=3)})  # versions 1..2 never arrived
    assert sync.heard == {} and sync.unsure == {"A": 4}


# -- a first stale answer waits to hear of the sale ----------------------------------------------
def test_a_first_miss_waits_for_the_sale_and_goes_again_as_soon_as_it_is_heard() -> None:
    sync, _ = synced_at(10)
    sync.offer({"A": change(9, 2, 1, woo=1)})  # another store sold one: push 9, expecting 10
    [send] = sync.select(10)
    assert (send.quantity, send.expected) == (9, 10)
    sync.begin([send])
    sync.record([send], Reply(unheard=["A"]))  # the store sold one of its own meanwhile
    assert sync.select(10) == [] and sync.hearing == {"A"}  # waiting, nothing read
    sync.offer({"A": change(8, 3, 2, shop=1)})  # master reports that sale
    [again] = sync.select(10)
    assert (again.quantity, again.expected, again.round) == (8, 9, 0)
    assert sync.counters["cas_heard_in_time"] == 1 and sync.hearing == set()


def test_a_miss_nobody_explains_goes_again_after_the_wait_and_is_then_re_read() -> None:
    sync, clock = synced_at(10)
    sync.offer({"A": change(9, 2, 1, woo=1)})
    [send] = sync.select(10)
    sync.begin([send])
    sync.record([send], Reply(unheard=["A"]))
    clock.advance(0.99)
    assert sync.select(10) == []
    clock.advance(0.02)
    [again] = sync.select(10)
    assert again.round == 1  # a new request (new idempotency key); its miss is re-read
    sync.begin([again])
    sync.record([again], Reply(stale={"A": 7}))  # a sale whose webhook was lost: folded
    [third] = sync.select(10)
    assert (third.expected, third.quantity) == (7, 6)  # 3 unheard units: 9 - 3 listed


def test_a_miss_explained_by_a_sale_heard_while_in_flight_goes_again_at_once() -> None:
    sync, _ = synced_at(10)
    sync.offer({"A": change(9, 2, 1, woo=1)})
    [send] = sync.select(10)
    sync.begin([send])
    sync.offer({"A": change(8, 3, 2, shop=1)})  # heard before the stale answer came back
    sync.record([send], Reply(unheard=["A"]))
    [again] = sync.select(10)
    assert (again.quantity, again.expected) == (8, 9) and sync.hearing == set()
