"""All-or-nothing orders: reserve then commit or release, replays, a dead coordinator, racing orders."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import orjson

from engine.ledger import Ledger
from engine.routing import ShardMap
from engine.store.keys import Keys
from engine.two_phase import TwoPhaseOrders


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def setup(stock: dict[str, int]) -> tuple[Ledger, TwoPhaseOrders, Clock, list[str]]:
    led = Ledger(ShardMap(2, vshards=16), clock=lambda: 0.0)
    led.process([{"kind": "stock_set", "key": f"s-{k}", "sku": k, "quantity": v} for k, v in stock.items()])
    sent: list[str] = []

    async def submit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent.extend(e["kind"] for e in events)
        return [decide(led, ev) for ev in events]

    clock = Clock()
    return (
        led,
        TwoPhaseOrders(fakeredis.FakeAsyncRedis(), Keys("tp"), submit, hold_s=60, clock=clock),
        clock,
        sent,
    )


TWO_PHASE = ("order_reserve", "order_commit", "order_release")


def decide(led: Ledger, ev: dict[str, Any]) -> dict[str, Any]:
    """The ledger's decision: it answers ``order_exists`` to a step on another's order id."""
    [decision] = led.process([ev])
    return decision


def lines(**q: int) -> list[dict[str, Any]]:
    return [{"sku": k, "quantity": v} for k, v in q.items()]


def test_every_line_or_none() -> None:
    led, tp, _, _ = setup({"A": 5, "B": 1})
    ok = asyncio.run(tp.place("k1", "pos", "o1", lines(A=2, B=1)))
    assert ok.status == 201 and [ln["accepted"] for ln in ok.body["lines"]] == [2, 1]
    assert (led.records["A"].available, led.records["B"].available) == (3, 0)
    no = asyncio.run(tp.place("k2", "pos", "o2", lines(A=2, B=1)))
    assert no.status == 409 and no.body["sku"] == "B"
    assert led.records["A"].available == 3 and led.records["A"].reserved == 0  # nothing taken, nothing held


def test_same_key_replays_and_different_body_is_422() -> None:
    led, tp, _, sent = setup({"A": 5})
    first = asyncio.run(tp.place("k1", "pos", "o1", lines(A=2)))
    n = len(sent)
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=2))) == first
    assert len(sent) == n  # answered from Redis, no new events
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=3))).status == 422
    assert led.records["A"].available == 3


def test_two_orders_racing_for_the_last_units() -> None:
    led, tp, _, _ = setup({"A": 3})

    async def race() -> list[int]:
        answers = await asyncio.gather(*(tp.place(f"k{i}", "pos", f"o{i}", lines(A=2)) for i in range(4)))
        return [a.status for a in answers]

    statuses = asyncio.run(race())
    assert statuses.count(201) == 1 and statuses.count(409) == 3
    assert led.records["A"].available == 1 and led.records["A"].reserved == 0


def test_coordinator_dies_between_steps_sweeper_releases() -> None:
    led, tp, clock, _ = setup({"A": 5})

    async def die_after_reserve() -> None:
        await tp._open("pos:k1", "fp-not-used", {"channel": "pos", "order_id": "o1", "lines": lines(A=2)})
        await tp._step("order_reserve", "pos:k1", {"channel": "pos", "order_id": "o1", "lines": lines(A=2)})

    asyncio.run(die_after_reserve())
    assert led.records["A"].reserved == 2
    assert asyncio.run(tp.sweep()) == 0  # hold not expired yet
    clock.t += 61
    assert asyncio.run(tp.sweep()) == 1
    assert led.records["A"].available == 5 and led.records["A"].reserved == 0


def test_commit_decided_then_coordinator_dies_sweeper_commits() -> None:
    led, tp, clock, _ = setup({"A": 5})
    request = {"channel": "pos", "order_id": "o1", "lines": lines(A=2)}

    async def die_after_decision() -> None:
        await tp._open("pos:k1", "fp", request)
        await tp._step("order_reserve", "pos:k1", request)
        assert await tp._decide("pos:k1", "commit") == "commit"

    asyncio.run(die_after_decision())
    clock.t += 61
    asyncio.run(tp.sweep())
    assert led.records["A"].on_hand == 3 and led.records["A"].reserved == 0


def test_late_reserve_after_release_holds_nothing() -> None:
    led, tp, _, _ = setup({"A": 5})
    request = {"channel": "pos", "order_id": "o1", "lines": lines(A=2)}

    async def release_first() -> None:
        await tp._step("order_release", "pos:k1", request)
        await tp._step("order_reserve", "pos:k1", request)

    asyncio.run(release_first())
    assert led.records["A"].reserved == 0 and led.records["A"].available == 5


def test_an_answered_order_expires_with_the_idempotency_window_an_open_one_never() -> None:
    _, tp, _, _ = setup({"A": 5})
    tp.answer_ttl_s = 3600
    asyncio.run(tp.place("k1", "pos", "o1", lines(A=2)))
    ttl = asyncio.run(tp.r.ttl(tp.keys.txn("pos:k1")))
    assert 3590 <= ttl <= 3600

    async def open_then_die() -> int:  # a coordinator that dies after recording its request
        await tp._open("pos:k2", "fp", {"channel": "pos", "order_id": "o2", "lines": lines(A=1)})
        ttl: int = await tp.r.ttl(tp.keys.txn("pos:k2"))
        return ttl

    assert asyncio.run(open_then_die()) == -1  # no expiry: the sweeper must still find it


def test_a_replay_of_an_answered_order_never_reopens_it() -> None:
    _, tp, clock, sent = setup({"A": 5})
    tp.answer_ttl_s = 3600
    first = asyncio.run(tp.place("k1", "pos", "o1", lines(A=2)))
    clock.t += 1800
    n = len(sent)
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=2))) == first
    assert asyncio.run(tp.r.zscore(tp.keys.open_txns(), "pos:k1")) is None
    clock.t += 61  # past any hold the replay could have set: the sweeper has nothing to finish
    asyncio.run(tp.sweep())
    assert len(sent) == n
    assert asyncio.run(tp.r.ttl(tp.keys.txn("pos:k1"))) <= 3600  # expiry not restarted


def test_the_sweeper_drops_an_answered_order_without_finishing_it_again() -> None:
    _, tp, _, sent = setup({"A": 5})
    first = asyncio.run(tp.place("k1", "pos", "o1", lines(A=9)))  # refused: insufficient_stock
    asyncio.run(tp.r.expire(tp.keys.txn("pos:k1"), 100))
    asyncio.run(tp.r.zadd(tp.keys.open_txns(), {"pos:k1": 0}))  # however it got there
    n = len(sent)
    assert asyncio.run(tp.sweep()) == 1
    assert len(sent) == n  # no release sent again
    assert asyncio.run(tp.r.zscore(tp.keys.open_txns(), "pos:k1")) is None
    assert asyncio.run(tp.r.ttl(tp.keys.txn("pos:k1"))) <= 100
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=9))) == first  # its answer unchanged


def test_a_late_finish_keeps_the_first_answer_and_its_expiry() -> None:
    """A sweeper finishing an order its coordinator answered a moment before changes nothing."""
    _, tp, _, _ = setup({"A": 5})
    request = {"channel": "pos", "order_id": "o1", "lines": lines(A=9)}

    async def coordinator_then_sweeper() -> tuple[Any, Any]:
        await tp._open("pos:k1", "fp", request)
        await tp._step("order_reserve", "pos:k1", request)
        assert await tp._decide("pos:k1", "release") == "release"
        first = await tp._finish("pos:k1", request, "release", ["A"])
        await tp.r.expire(tp.keys.txn("pos:k1"), 100)
        return first, await tp._finish("pos:k1", request, "release", [])

    first, late = asyncio.run(coordinator_then_sweeper())
    assert first.body["error"] == "insufficient_stock" and late == first
    assert asyncio.run(tp.r.ttl(tp.keys.txn("pos:k1"))) <= 100


def test_another_key_for_an_answered_order_id_is_409_order_exists_and_changes_nothing() -> None:
    led, tp, _, sent = setup({"A": 5})
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=2))).status == 201
    n = len(sent)
    again = asyncio.run(tp.place("k2", "pos", "o1", lines(A=1)))
    assert (again.status, again.body) == (409, {"error": "order_exists"})
    assert "order_commit" not in sent[n:]
    assert (led.records["A"].available, led.records["A"].on_hand, led.records["A"].reserved) == (3, 3, 0)
    n = len(sent)
    assert asyncio.run(tp.place("k2", "pos", "o1", lines(A=1))) == again  # stored: the key replays it
    assert len(sent) == n


def test_another_key_never_commits_an_order_id_still_held_by_its_first_key() -> None:
    led, tp, _, sent = setup({"A": 5})
    request = {"channel": "pos", "order_id": "o1", "lines": lines(A=2)}

    async def first_holds() -> None:  # k1 holds o1 and has not decided yet
        await tp._open("pos:k1", "fp", request)
        await tp._step("order_reserve", "pos:k1", request)

    asyncio.run(first_holds())
    other = asyncio.run(tp.place("k2", "pos", "o1", lines(A=2)))
    assert (other.status, other.body) == (409, {"error": "order_exists"})
    assert "order_commit" not in sent
    assert (led.records["A"].on_hand, led.records["A"].reserved) == (5, 2)  # k1's hold untouched
    assert asyncio.run(tp._decide("pos:k1", "commit")) == "commit"  # k1 may still sell it


def test_an_order_id_a_webhook_placed_on_one_vshard_is_order_exists_across_vshards() -> None:
    led, tp, _, sent = setup({"A": 5, "B": 5})
    assert led.shard_map.vshard("A") != led.shard_map.vshard("B")
    led.process(
        [{"kind": "order_placed", "key": "w1", "channel": "pos", "order_id": "o1", "lines": lines(A=1)}]
    )
    answer = asyncio.run(tp.place("k1", "pos", "o1", lines(A=2, B=3)))
    # A's part met the webhook's order, B's part was held: merged "mixed", and B's hold released.
    assert (answer.status, answer.body) == (409, {"error": "order_exists"})
    assert "order_commit" not in sent
    assert (led.records["A"].available, led.records["A"].reserved) == (4, 0)
    assert (led.records["B"].available, led.records["B"].on_hand, led.records["B"].reserved) == (5, 5, 0)


def test_the_sweeper_answers_order_exists_for_a_coordinator_that_died_after_meeting_it() -> None:
    led, tp, clock, sent = setup({"A": 5})
    assert asyncio.run(tp.place("k1", "pos", "o1", lines(A=2))).status == 201
    n = len(sent)
    request = {"channel": "pos", "order_id": "o1", "lines": lines(A=1)}

    async def die_after_reserve() -> None:
        await tp._open("pos:k2", "fp", request)
        assert (await tp._step("order_reserve", "pos:k2", request))["outcome"] == "order_exists"

    asyncio.run(die_after_reserve())
    clock.t += 61
    assert asyncio.run(tp.sweep()) == 1
    assert sent[n:] == ["order_reserve", "order_release"]
    stored = asyncio.run(tp.r.hget(tp.keys.txn("pos:k2"), "answer"))
    assert orjson.loads(stored) == [409, {"error": "order_exists"}]
    assert (led.records["A"].available, led.records["A"].reserved) == (3, 0)
