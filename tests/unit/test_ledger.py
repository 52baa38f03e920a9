"""Ledger rules on examples: never below zero, versions, idempotency, conflicts, cancels, parking."""

from __future__ import annotations

from typing import Any

from engine.ledger import Fetched, Ledger
from engine.routing import ShardMap


def ledger() -> Ledger:
    return Ledger(ShardMap(1), clock=lambda: 1000.0)


def order(key: str, order_id: str, *lines: tuple[str, int], channel: str = "shop") -> dict[str, Any]:
    return {
        "kind": "order_placed",
        "key": key,
        "channel": channel,
        "order_id": order_id,
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
    }


def cancel(key: str, order_id: str, *skus: str, channel: str = "shop") -> dict[str, Any]:
    return {
        "kind": "order_cancelled",
        "key": key,
        "channel": channel,
        "order_id": order_id,
        "skus": list(skus),
    }


def stock_set(key: str, sku: str, q: int) -> dict[str, Any]:
    return {"kind": "stock_set", "key": key, "sku": sku, "quantity": q}


def adjust(key: str, sku: str, delta: int) -> dict[str, Any]:
    return {"kind": "stock_adjusted", "key": key, "sku": sku, "delta": delta, "reason": "restock"}


def test_sale_takes_units_and_bumps_version() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    [d] = led.process([order("o1", "1", ("A", 2))])
    assert d["outcome"] == "applied"
    assert d["lines"][0] == {
        "sku": "A",
        "outcome": "accepted",
        "delta": -2,
        "requested": 2,
        "accepted": 2,
        "available": 3,
        "version": 2,
    }


def test_never_below_zero_grants_what_is_left() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 3)])
    [d] = led.process([order("o1", "1", ("A", 5))])
    assert d["lines"][0]["outcome"] == "insufficient"
    assert d["lines"][0]["accepted"] == 3
    assert led.records["A"].available == 0
    [d2] = led.process([order("o2", "2", ("A", 1))])
    assert d2["lines"][0]["accepted"] == 0 and d2["lines"][0]["delta"] == 0
    assert led.records["A"].version == 2  # no change, no bump


def test_same_key_returns_first_decision_even_after_state_moved() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    first = led.process([order("o1", "1", ("A", 2))])
    led.process([adjust("r", "A", 10)])
    again = led.process([order("o1", "1", ("A", 2))])
    assert again == first
    assert led.records["A"].available == 13


def test_same_key_different_payload_is_conflict_and_changes_nothing() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    led.process([order("o1", "1", ("A", 2))])
    [d] = led.process([order("o1", "1", ("A", 3))])
    assert d["outcome"] == "conflict"
    assert led.records["A"].available == 3


def test_duplicate_within_one_batch() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    a, b = led.process([order("o1", "1", ("A", 2)), order("o1", "1", ("A", 2))])
    assert a == b and led.records["A"].available == 3


def test_same_order_through_another_key_counts_once() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    led.process([order("webhook-1", "1", ("A", 2))])
    [d] = led.process([order("backfill-1", "1", ("A", 2))])
    assert d["outcome"] == "duplicate_order"
    assert led.records["A"].available == 3


def test_cancel_returns_exactly_the_accepted_units() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 3), stock_set("t", "B", 10)])
    led.process([order("o1", "1", ("A", 5), ("B", 2))])  # A: only 3 granted
    [d] = led.process([cancel("c1", "1", "A", "B")])
    assert {ln["sku"]: ln["delta"] for ln in d["lines"]} == {"A": 3, "B": 2}
    assert led.records["A"].available == 3 and led.records["B"].available == 10
    [again] = led.process([cancel("c2", "1", "A", "B")])
    assert again["outcome"] == "already_cancelled"
    assert led.records["A"].available == 3


def test_cancel_before_order_is_parked_then_order_moves_nothing() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    [c] = led.process([cancel("c1", "9", "A")])
    assert c["outcome"] == "parked"
    [o] = led.process([order("o9", "9", ("A", 2))])
    assert o["outcome"] == "cancelled"
    assert led.records["A"].available == 5


def test_unknown_sku_is_recorded_not_dropped() -> None:
    led = ledger()
    [d] = led.process([order("o1", "1", ("NOPE", 1))])
    assert d["lines"][0]["outcome"] == "unknown_sku"
    assert "NOPE" not in led.records


def test_adjust_below_zero_is_rejected() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 2)])
    [d] = led.process([adjust("a", "A", -3)])
    assert d["outcome"] == "rejected" and led.records["A"].available == 2


def test_multi_vshard_order_lines_come_back_in_order() -> None:
    led = Ledger(ShardMap(1, vshards=64), clock=lambda: 0.0)
    skus = [f"S{i}" for i in range(20)]
    led.process([stock_set(f"s{s}", s, 1) for s in skus])
    [d] = led.process([order("o", "1", *[(s, 1) for s in skus])])
    assert [ln["sku"] for ln in d["lines"]] == skus
    assert d["outcome"] == "applied"


def test_failed_commit_leaves_state_untouched() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    parts = led.split([order("o1", "1", ("A", 2))])
    idem, orders = led.missing(parts)
    plan = led.decide(
        [order("o1", "1", ("A", 2))], parts, Fetched(dict.fromkeys(idem), dict.fromkeys(orders), led.applied)
    )
    assert led.discard(plan) == [plan]  # the commit "failed"
    assert led.records["A"].available == 5
    [d] = led.process([order("o1", "1", ("A", 2))])
    assert d["lines"][0]["accepted"] == 2 and led.records["A"].available == 3
