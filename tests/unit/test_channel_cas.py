"""Compare-and-set in ChannelSync (no I/O): a push computed before a sale on the channel never
overwrites it; the sale is folded in until master hears of it, and never counted twice."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from engine.backoff import Backoff
from engine.buffer_rules import BufferRule, BufferRules
from engine.channel_records import Reply, Send, Target
from engine.channel_sync import ChannelSync, unheard_change
from tests.unit.clock import FakeClock

ME = "shop"


class CasChannel:
    """A marketplace whose writes are conditional, as Shopify's ``changeFromQuantity`` makes them."""

    def __init__(self, listed: Mapping[str, int]) -> None:
        self.listed = dict(listed)
        self.landed: list[tuple[str, int]] = []

    def sell(self, sku: str, n: int = 1) -> None:
        self.listed[sku] -= n

    def push(self, sends: list[Send]) -> Reply:
        ok, stale = [], {}
        for s in sends:
            if s.expected == self.listed[s.sku]:
                self.listed[s.sku] = s.quantity
                self.landed.append((s.sku, s.quantity))
                ok.append(s.sku)
            else:
                stale[s.sku] = self.listed[s.sku]  # the actor's re-read
        return Reply(ok=ok, stale=stale)


def make(
    listed: Mapping[str, int],
    rules: BufferRules | None = None,
    catalog: Mapping[str, dict[str, object]] | None = None,
) -> tuple[ChannelSync, FakeClock]:
    clock = FakeClock()
    sync = ChannelSync(ME, rules or BufferRules(), Backoff(1.0, 8.0, 3, rng=random.Random(3)), clock)
    sync.set_catalog(dict(catalog) if catalog is not None else {sku: {"id": sku} for sku in listed})
    return sync, clock


def change(
    available: int, version: int, source: str | None = None, at: float | None = None
) -> dict[str, object]:
    return {"available": available, "version": version, "source": source, "at": at}


def drain(sync: ChannelSync, channel: CasChannel, limit: int = 20) -> int:
    """Push until nothing is due; returns the number of requests."""
    for n in range(limit):
        sends = sync.select(50) or sync.select_corrections(50)
        if not sends:
            return n
        sync.begin(sends)
        sync.record(sends, channel.push(sends))
    raise AssertionError("did not go idle")


def synced(listed: int, available: int | None = None) -> tuple[ChannelSync, FakeClock, CasChannel]:
    """A channel listing ``listed`` for A, known to us at master version 1."""
    channel = CasChannel({"A": listed})
    sync, clock = make(channel.listed, catalog={"A": {"id": "A", "listed": listed}})
    sync.offer({"A": change(listed if available is None else available, 1)})
    drain(sync, channel)
    assert sync.synced["A"].listed == listed and sync.expected("A") == listed
    return sync, clock, channel


# -- the pure part ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "expected", "unheard"),
    [
        (9, [9], 0),  # as believed
        (8, [10], -2),  # two sold there that master has not heard of
        (8, [10, 9], -1),  # a push of 9 may have landed: the fewest unheard units explain it
        (9, [10, 9], 0),
        (12, [10], 0),  # more listed than expected (a restock there): nothing folded
        (3, [10, 5], -2),
    ],
)
def test_unheard_change(reading: int, expected: list[int], unheard: int) -> None:
    assert unheard_change(reading, expected) == unheard


# -- ChannelSync -----------------------------------------------------------------------------------


def test_a_push_computed_before_a_sale_there_is_refused_and_the_sale_folded_in() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})  # another channel sold 2
    sends = sync.select(50)
    assert [(s.quantity, s.expected, s.round) for s in sends] == [(8, 10, 0)]
    sync.begin(sends)
    channel.sell("A")  # the shop sells one before our push lands
    sync.record(sends, channel.push(sends))
    assert channel.listed["A"] == 9 and sync.counters["cas_stale"] == 1

    again = sync.select(50)  # at once, a new round (a new request), the sale folded in
    assert [(s.quantity, s.expected, s.round) for s in again] == [(7, 9, 1)]
    sync.begin(again)
    sync.record(again, channel.push(again))
    assert channel.listed["A"] == 7 and ("A", 8) not in channel.landed
    assert sync.synced["A"].folded == -1

    # Master hears of the sale: it pays off the fold, the listing is already right, no push.
    out = sync.offer({"A": change(7, 3, source=ME, at=clock() - 1)})
    assert "A" in out.settled and sync.idle and sync.synced["A"].folded == 0
    assert sync.synced["A"].listed == 7 and drain(sync, channel) == 0


def test_a_sale_master_heard_while_the_push_was_in_flight_is_not_counted_twice() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    channel.sell("A")
    sync.offer({"A": change(7, 3, source=ME, at=clock())})  # its webhook beats our answer
    sync.record(sends, channel.push(sends))  # stale: the shop lists 9, as we now expect
    assert sync.synced["A"].folded == 0
    assert drain(sync, channel) == 1 and channel.listed["A"] == 7


def test_own_sales_heard_during_an_acked_push_stay_expected() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    reply = channel.push(sends)  # lands: 8
    channel.sell("A")  # then the shop sells one, and master hears before we book the answer
    sync.offer({"A": change(7, 3, source=ME, at=clock())})
    sync.record(sends, reply)
    assert sync.expected("A") == 7  # listed 8, one heard since
    assert drain(sync, channel) == 1 and channel.listed["A"] == 7 and sync.counters["cas_stale"] == 0


def test_the_fold_holds_until_master_hears_even_across_other_changes() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    channel.sell("A")
    sync.record(sends, channel.push(sends))
    drain(sync, channel)
    assert channel.listed["A"] == 7
    sync.offer({"A": change(6, 3, source="woo")})  # another sale elsewhere; ours still unheard
    drain(sync, channel)
    assert channel.listed["A"] == 5 and ("A", 6) not in channel.landed
    sync.offer({"A": change(5, 4, source=ME, at=clock() - 5)})  # master hears: nothing to push
    assert drain(sync, channel) == 0 and channel.listed["A"] == 5 and sync.synced["A"].folded == 0


def test_reconciliation_after_its_backfill_clears_the_fold() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    channel.sell("A")
    sync.record(sends, channel.push(sends))
    drain(sync, channel)
    clock.advance(10)
    # The backfill brought the sale in as version 3 (7), but its change has not reached us: the
    # correction is computed from master after the backfill.
    outcomes = sync.correct({"A": Target(7, 3)}, observed_at=clock())
    assert outcomes == {"A": "queued"} and sync.synced["A"].folded == 0
    drain(sync, channel)
    assert channel.listed["A"] == 7


def test_a_lost_answer_is_sent_again_unchanged_and_a_landed_push_is_recognised() -> None:
    sync, clock, channel = synced(10)
    sync.offer({"A": change(8, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    channel.push(sends)  # it landed (8), but the connection dropped before the answer
    sync.record(sends, Reply(error="ReadError", maybe_applied=True))
    clock.advance(60)
    retry = sync.select(50)
    assert retry == sends  # the same request: the same idempotency key
    sync.offer({"A": change(6, 3, source="woo")})  # but a newer change replaces it
    newer = sync.select(50)
    assert [(s.quantity, s.expected) for s in newer] == [(6, 10)]
    sync.begin(newer)
    sync.record(newer, channel.push(newer))  # stale: 8 is what the lost push set, nothing unheard
    assert sync.synced["A"].folded == 0
    drain(sync, channel)
    assert channel.listed["A"] == 6


def test_a_sku_never_synced_starts_from_the_catalog_reading_and_folds_nothing() -> None:
    channel = CasChannel({"A": 4})
    sync, _ = make(channel.listed, catalog={"A": {"id": "A", "listed": 5}})  # read before a sale
    sync.offer({"A": change(3, 7)})
    sends = sync.select(50)
    assert sends[0].expected == 5
    sync.begin(sends)
    sync.record(sends, channel.push(sends))
    assert sync.observed == {"A": 4}  # no belief to tell an unheard sale from older drift
    drain(sync, channel)
    assert channel.listed["A"] == 3 and sync.synced["A"].folded == 0


def test_a_failed_reread_is_an_ordinary_retry_with_a_new_round() -> None:
    sync, clock, _ = synced(10)
    sync.offer({"A": change(8, 2)})
    sends = sync.select(50)
    sync.begin(sends)
    recorded = sync.record(sends, Reply(stale={"A": None}))
    assert "A" in recorded.retry_at and sync.attempts["A"] == 1
    assert sync.counters["cas_reread_failures"] == 1 and sync.select(50) == []
    clock.advance(60)
    assert [s.round for s in sync.select(50)] == [1]


def test_buffer_rules_apply_to_the_available_quantity_with_the_fold() -> None:
    channel = CasChannel({"A": 8})
    sync, _ = make(channel.listed, rules=BufferRules(BufferRule(fixed=2)))
    sync.offer({"A": change(10, 1)})
    sends = sync.select(50)
    assert sends[0].quantity == 8 and sends[0].expected is None  # no belief: the adapter guesses
    sync.begin(sends)
    sync.record(sends, Reply(ok=["A"]))
    sync.offer({"A": change(9, 2, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    channel.sell("A", 2)  # 6 listed now
    sync.record(sends, channel.push(sends))
    drain(sync, channel)
    assert channel.listed["A"] == 5  # master 9, less the unheard 2, less the buffer of 2


def test_a_sale_hidden_in_coalesced_changes_is_not_folded_twice() -> None:
    sync, _, channel = synced(80)
    channel.sell("A", 2)  # the shop sells 2 (version 2) and another channel 2 (version 3) at once:
    sync.offer({"A": change(76, 3, source="woo")})  # master's change merged both, naming the last
    assert sync.unsure == {"A": 4} and sync.expected("A") == 80
    sends = sync.select(50)
    sync.begin(sends)
    sync.record(sends, channel.push(sends))  # stale: 78 is within what the merged drop explains
    assert sync.synced["A"].folded == 0 and sync.counters["cas_folded_units"] == 0
    drain(sync, channel)
    assert channel.listed["A"] == 76


def test_a_reading_below_what_merged_changes_explain_is_folded() -> None:
    sync, _, channel = synced(80)
    channel.sell("A", 3)  # 1 more than master's merged change can hold
    sync.offer({"A": change(78, 3, source="woo")})
    sends = sync.select(50)
    sync.begin(sends)
    sync.record(sends, channel.push(sends))
    assert sync.synced["A"].folded == -1
    drain(sync, channel)
    assert channel.listed["A"] == 77


def test_a_listing_edited_down_on_the_channel_is_corrected_by_reconciliation_not_folded() -> None:
    sync, clock, channel = synced(10)
    channel.sell("A", 2)  # not a sale: the merchant takes 2 off the listing by hand
    clock.advance(5)
    # Reconciliation (after its backfill) sees 8 where master says 10 and corrects it.
    assert sync.correct({"A": Target(10, 1)}, observed_at=clock(), listed={"A": 8}) == {"A": "queued"}
    drain(sync, channel)
    assert channel.listed["A"] == 10 and sync.synced["A"].folded == 0


def test_skus_held_back_by_another_skus_refusal_go_again_at_once() -> None:
    channel = CasChannel({"A": 5, "B": 5})
    sync, _ = make(channel.listed, catalog={s: {"id": s, "listed": 5} for s in "AB"})
    sync.offer({"A": change(4, 1), "B": change(3, 1)})
    sends = sync.select(50)
    sync.begin(sends)
    channel.sell("A")  # A is stale; the call writes nothing, so B was not written either
    sync.record(sends, Reply(stale={"A": 4}, requeue=["B"]))
    assert sync.attempts == {} and not sync.retry_at and sync.counters["requeued"] == 1
    assert sorted(s.sku for s in sync.select(50)) == ["A", "B"]  # one miss does not set A apart
    drain(sync, channel)
    assert channel.listed == {"A": 4, "B": 3}
