"""ChannelSync with a fake clock and a fake channel: coalescing, one in flight, buffers, retries, DLQ."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from engine.backoff import Backoff
from engine.buffer_rules import BufferRule, BufferRules
from engine.channel_records import Reply, Send, Synced, Target
from engine.channel_sync import SOURCE_GUARD_S, ChannelSync, rules_for
from engine.config import ChannelConfig
from tests.unit.clock import FakeClock

ME = "shop-a"


class FakeChannel:
    """A marketplace that applies a request's quantities when ``answer`` says ok."""

    def __init__(self, max_batch: int = 50, answer: Callable[[list[Send]], Reply] | None = None) -> None:
        self.max_batch = max_batch
        self.listed: dict[str, int] = {}
        self.requests: list[list[Send]] = []
        self.answer = answer or (lambda sends: Reply(ok=[s.sku for s in sends]))

    def send(self, sends: list[Send]) -> Reply:
        self.requests.append(sends)
        reply = self.answer(sends)
        for s in sends:
            if s.sku in set(reply.ok):
                self.listed[s.sku] = s.quantity
        return reply


def make(
    rules: BufferRules | None = None, catalog: list[str] | None = None, max_attempts: int = 3
) -> tuple[ChannelSync, FakeClock]:
    clock = FakeClock()
    backoff = Backoff(base_s=1.0, cap_s=8.0, max_attempts=max_attempts, rng=random.Random(7))
    sync = ChannelSync(ME, rules or BufferRules(), backoff, clock)
    sync.set_catalog({sku: {"id": sku} for sku in (catalog or ["A", "B", "C"])})
    return sync, clock


def change(
    available: int, version: int, source: str | None = None, at: float | None = None
) -> dict[str, object]:
    return {"available": available, "version": version, "source": source, "at": at}


def pump(sync: ChannelSync, channel: FakeChannel, clock: FakeClock, limit: int = 100) -> None:
    """Send until idle, jumping the clock to the next retry time when nothing is due."""
    for _ in range(limit):
        sends = sync.select(channel.max_batch)
        if sends:
            sync.begin(sends)
            sync.record(sends, channel.send(sends))
            continue
        due = sync.next_due()
        if due is None:
            return
        clock.advance(max(0.0, due - clock()))
    raise AssertionError("did not go idle")


def test_burst_of_100_changes_to_one_sku_coalesces_and_ends_on_the_last_value() -> None:
    sync, clock = make()
    channel = FakeChannel()
    held: list[Send] = []
    for version in range(1, 101):
        sync.offer({"A": change(200 - version, version)})
        if not held:  # the drainer picks whatever is newest when the previous request is done
            held = sync.select(channel.max_batch)
            sync.begin(held)
        if version % 10 == 0:  # each request takes as long as ten changes do to arrive
            sync.record(held, channel.send(held))
            held = []
        assert len(sync.in_flight) <= 1
    if held:
        sync.record(held, channel.send(held))
    pump(sync, channel, clock)

    assert len(channel.requests) <= 12  # not 100
    assert channel.listed == {"A": 100}
    assert sync.synced["A"].version == 100
    assert sync.counters["coalesced"] > 80


def test_one_request_in_flight_per_sku_and_the_newer_target_follows() -> None:
    sync, clock = make()
    channel = FakeChannel()
    sync.offer({"A": change(10, 1), "B": change(5, 1)})
    first = sync.select(10)
    sync.begin(first)
    sync.offer({"A": change(9, 2)})

    assert [s.sku for s in sync.select(10)] == []  # A is in flight, B too
    with pytest.raises(ValueError):
        sync.begin(first)
    sync.record(first, channel.send(first))
    again = sync.select(10)
    assert [(s.sku, s.quantity, s.target.version) for s in again] == [("A", 9, 2)]
    pump(sync, channel, clock)
    assert channel.listed == {"A": 9, "B": 5}


def test_older_targets_are_dropped_never_sent() -> None:
    sync, clock = make()
    channel = FakeChannel()
    sync.offer({"A": change(5, 5)})
    sync.offer({"A": change(7, 3)})
    sends = sync.select(10)
    sync.begin(sends)
    sync.offer({"A": change(6, 4)})  # older than the one in flight
    sync.record(sends, channel.send(sends))
    pump(sync, channel, clock)

    assert [[s.target.version for s in r] for r in channel.requests] == [[5]]
    assert sync.counters["stale"] == 2


def test_buffer_rules_set_the_pushed_quantity_never_below_zero() -> None:
    rules = BufferRules(
        BufferRule(fixed=2),
        {"B": BufferRule(percent=10, max_listed=50), "C": BufferRule(zero_at_or_below=3)},
    )
    sync, clock = make(rules)
    channel = FakeChannel()
    sync.offer({"A": change(10, 1), "B": change(1000, 1), "C": change(3, 1)})
    pump(sync, channel, clock)
    assert channel.listed == {"A": 8, "B": 50, "C": 0}
    sync.offer({"A": change(1, 2), "B": change(-4, 2), "C": change(4, 2)})
    pump(sync, channel, clock)
    assert channel.listed == {"A": 0, "B": 0, "C": 4}
    assert sync.status("A") == {"listed": 0, "buffer": 1, "synced_version": 2, "last_push_at": clock()}


def test_rules_for_reads_default_buffer_and_buffer_rules_extra() -> None:
    plain = ChannelConfig(id="c", kind="shopify", default_buffer=3)
    assert rules_for(plain).listed("X", 10) == 7
    rich = ChannelConfig(
        id="c", kind="shopify", default_buffer=3, buffer_rules={"skus": {"Y": {"max_listed": 4}}}
    )
    assert rules_for(rich).listed("X", 10) == 7 and rules_for(rich).listed("Y", 10) == 4
    assert rules_for(ChannelConfig(id="c", kind="shopify")).listed("X", 10) == 10


def test_the_sale_source_channel_is_skipped_when_it_already_lists_the_right_quantity() -> None:
    sync, clock = make(BufferRules(BufferRule(fixed=2)))
    channel = FakeChannel()
    sync.offer({"A": change(10, 1), "B": change(10, 1)})
    pump(sync, channel, clock)
    assert len(channel.requests) == 1

    sold_at = clock() + SOURCE_GUARD_S  # well after our push landed
    offered = sync.offer({"A": change(9, 2, source=ME, at=sold_at)})  # our own sale: we already list 7
    assert offered.settled == {"A": Synced(2, 9, 7, sync.synced["A"].at)} and not offered.persist
    assert sync.select(10) == [] and sync.counters["skipped_source"] == 1

    # Versions 3 and 4 coalesced: another channel's sale hides behind our own, so we must push.
    sync.offer({"A": change(7, 4, source=ME)})
    # Another channel's sale of B: pushed to us.
    sync.offer({"B": change(9, 2, source="other")})
    pump(sync, channel, clock)
    assert channel.listed == {"A": 5, "B": 7}
    assert len(channel.requests) == 2


@pytest.mark.parametrize("sold_after_push_s", [None, -5.0, 0.0, SOURCE_GUARD_S / 2])
def test_a_sale_that_may_have_raced_our_push_is_pushed_to_its_own_channel(
    sold_after_push_s: float | None,
) -> None:
    # Our push of 10 is computed before a sale there; the sale takes the channel to 9, then our
    # push lands and sets 10 again. Skipping the sale's change would leave the sold unit listed.
    sync, clock = make()
    channel = FakeChannel()
    sync.offer({"A": change(10, 1)})
    pump(sync, channel, clock)
    pushed_at = sync.synced["A"].at
    assert pushed_at is not None
    at = None if sold_after_push_s is None else pushed_at + sold_after_push_s
    sync.offer({"A": change(9, 2, source=ME, at=at)})
    assert [(s.sku, s.quantity) for s in sync.select(10)] == [("A", 9)]
    assert sync.counters["skipped_source"] == 0


def test_the_source_channel_is_pushed_when_a_buffer_rule_does_not_move_one_for_one() -> None:
    sync, clock = make(BufferRules(BufferRule(max_listed=5)))
    channel = FakeChannel()
    sync.offer({"A": change(100, 1)})
    pump(sync, channel, clock)
    sync.offer({"A": change(99, 2, source=ME)})  # we sold one of our 5: must relist 5
    assert sync.select(10)[0].quantity == 5
    sync.offer({"B": change(3, 1)})
    pump(sync, channel, clock)
    sync.offer({"B": change(3, 2, source="other")})  # same quantity, contiguous: nothing to send
    assert sync.select(10) == [] and sync.counters["unchanged"] == 1


def test_retry_with_full_jitter_then_dead_letter_then_redrive() -> None:
    sync, clock = make(max_attempts=3)
    failing = True
    channel = FakeChannel(
        answer=lambda s: Reply(error="HTTP 503") if failing else Reply(ok=[x.sku for x in s])
    )
    sync.offer({"A": change(4, 1)})
    delays = []
    for attempt in range(3):
        sends = sync.select(10)
        assert [s.sku for s in sends] == ["A"]
        sync.begin(sends)
        rec = sync.record(sends, channel.send(sends))
        if attempt < 2:
            delays.append(rec.retry_at["A"] - clock())
            assert sync.select(10) == []  # not before its retry time
            clock.advance(delays[-1])
    assert 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0
    assert [(d.sent.sku, d.attempts, d.error) for d in rec.dead] == [("A", 3, "HTTP 503")]
    assert sync.idle and sync.counters["dead_letters"] == 1 and sync.counters["retries"] == 2

    failing = False
    offered = sync.redrive({"A": rec.dead[0].target})
    assert list(offered.persist) == ["A"] and "A" not in sync.attempts
    pump(sync, channel, clock)
    assert channel.listed == {"A": 4}
    assert not sync.redrive({"A": rec.dead[0].target}).persist  # obsolete now


def test_retry_after_is_a_floor_and_throttling_costs_no_attempt() -> None:
    sync, clock = make(max_attempts=2)
    sync.offer({"A": change(4, 1)})
    for _ in range(5):
        sends = sync.select(10)
        sync.begin(sends)
        rec = sync.record(sends, Reply(retry_after_s=3.0, throttled=True))
        assert rec.retry_at["A"] == clock() + 3.0 and not rec.dead
        clock.advance(3.0)
    assert sync.counters["throttled_retries"] == 5 and "A" not in sync.attempts
    sends = sync.select(10)
    sync.begin(sends)
    assert sync.record(sends, Reply(retry_after_s=20.0)).retry_at["A"] >= clock() + 20.0


def test_permanent_failure_dead_letters_at_once_with_the_newest_target() -> None:
    sync, _ = make()
    sync.offer({"A": change(4, 1), "B": change(2, 1)})
    sends = sync.select(10)
    sync.begin(sends)
    sync.offer({"A": change(3, 2)})
    rec = sync.record(sends, Reply(ok=["B"], failed={"A": "INVALID_LOCATION"}))
    assert [(d.sent.target.version, d.target.version, d.attempts) for d in rec.dead] == [(1, 2, 1)]
    assert list(rec.acked) == ["B"] and sync.idle


def test_skus_the_answer_does_not_mention_are_retried() -> None:
    sync, _ = make()
    sync.offer({"A": change(4, 1), "B": change(2, 1)})
    sends = sync.select(10)
    sync.begin(sends)
    rec = sync.record(sends, Reply(ok=["B"]))
    assert list(rec.retry_at) == ["A"] and sync.attempts == {"A": 1}
    assert sync.record(sends, Reply(ok=["A"])).acked == {}  # a second answer is not booked


def test_unknown_sku_is_reported_never_pushed_until_the_catalog_lists_it() -> None:
    sync, clock = make(catalog=["A"])
    channel = FakeChannel()
    offered = sync.offer({"A": change(1, 1), "GHOST": change(5, 1)})
    assert offered.unknown == ["GHOST"] and set(offered.persist) == {"A", "GHOST"}
    pump(sync, channel, clock)
    assert channel.listed == {"A": 1} and sync.counters["unknown_skus"] == 1
    sync.offer({"GHOST": change(6, 2)})
    assert sync.counters["unknown_skus"] == 1  # one SKU, counted once
    sync.set_catalog({"A": {}, "GHOST": {}})
    pump(sync, channel, clock)
    assert channel.listed == {"A": 1, "GHOST": 6}


def test_nothing_is_selected_before_a_catalog_and_restore_keeps_the_newest() -> None:
    clock = FakeClock()
    sync = ChannelSync(ME, BufferRules(), Backoff(), clock)
    sync.restore({"A": Target(5, 3), "B": Target(1, 1)}, {"B": Synced(2, 2, 2, 1.0)})
    assert sync.select(10) == [] and sync.next_due() is None
    sync.set_catalog({"A": {}, "B": {}})
    assert [(s.sku, s.quantity) for s in sync.select(10)] == [("A", 5)]
    assert sync.stats()["pending"] == 1


def test_batches_respect_the_limit_and_oldest_go_first() -> None:
    skus = [f"S{i}" for i in range(25)]
    sync, clock = make(catalog=skus)
    channel = FakeChannel(max_batch=10)
    sync.offer({s: change(i, 1) for i, s in enumerate(skus)})
    pump(sync, channel, clock)
    assert [len(r) for r in channel.requests] == [10, 10, 5]
    assert [s.sku for s in channel.requests[0]] == skus[:10]


def test_a_sku_that_sold_out_goes_before_older_pending_skus() -> None:
    """A listing that must drop to 0 sells what master no longer has while it waits, so it jumps
    the line (the flash-sale benchmark found a hot SKU that had just sold out waiting behind older
    pending SKUs); the others keep their order, and a SKU back above 0 loses its place in front."""
    skus = [f"S{i}" for i in range(20)]
    sync, clock = make(catalog=skus, rules=BufferRules(default=BufferRule(fixed=2)))
    sync.offer({s: change(5, 1) for s in skus})
    sync.offer({"S15": change(2, 2)})  # 2 left, a buffer of 2: list 0
    sync.offer({"S17": change(0, 2)})
    first = [s.sku for s in sync.select(5)]
    assert first == ["S15", "S17", "S0", "S1", "S2"]
    sync.offer({"S15": change(9, 3)})  # restocked: back in its old place, nothing in front
    assert [s.sku for s in sync.select(4)] == ["S17", "S0", "S1", "S2"]
    channel = FakeChannel(max_batch=10)
    pump(sync, channel, clock)
    assert channel.listed == {s: 0 if s == "S17" else 7 if s == "S15" else 3 for s in skus}
