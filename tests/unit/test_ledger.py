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


# -- orders as versioned documents (issue 14) ------------------------------------------------------
def doc(
    key: str, order_id: str, version: int, *lines: tuple[str, int, int], kind: str = "order_updated"
) -> dict[str, Any]:
    """An order version: lines of (sku, quantity still claimed, units kept without restocking)."""
    return {
        "kind": kind,
        "key": key,
        "channel": "shop",
        "order_id": order_id,
        "version": version,
        "lines": [{"sku": s, "quantity": q, "kept": k} for s, q, k in lines],
    }


def vcancel(key: str, order_id: str, version: int | None, restock: bool, *skus: str) -> dict[str, Any]:
    return {**cancel(key, order_id, *skus), "version": version, "restock": restock}


def test_an_edit_moves_stock_by_the_difference_in_both_directions() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10), stock_set("t", "B", 10)])
    led.process([doc("v1", "1", 1, ("A", 3, 0), kind="order_placed")])
    [d] = led.process([doc("v2", "1", 2, ("A", 1, 0), ("B", 2, 0))])  # A lowered, B added
    assert {ln["sku"]: ln["delta"] for ln in d["lines"]} == {"A": 2, "B": -2}
    assert (led.records["A"].available, led.records["B"].available) == (9, 8)
    [d] = led.process([doc("v3", "1", 3, ("A", 0, 0))])  # A's line removed: sent with quantity 0
    assert d["lines"][0]["delta"] == 1 and led.records["A"].available == 10
    assert led.records["B"].available == 8  # a line the version does not name keeps its state


def test_an_older_or_equal_version_moves_nothing() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    led.process([doc("v5", "1", 5, ("A", 3, 0), kind="order_placed")])
    [late] = led.process([doc("v4", "1", 4, ("A", 1, 0))])
    [same] = led.process([doc("v5-again", "1", 5, ("A", 1, 0))])
    assert (late["outcome"], same["outcome"]) == ("stale", "duplicate_order")
    assert led.records["A"].available == 7


def test_refunds_return_only_what_was_restocked() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    led.process([doc("v1", "1", 1, ("A", 4, 0), kind="order_placed")])
    led.process([doc("v2", "1", 2, ("A", 3, 1))])  # one refunded without restock: kept
    assert led.records["A"].available == 6
    led.process([doc("v3", "1", 3, ("A", 1, 1))])  # two refunded and restocked
    assert led.records["A"].available == 8
    [d] = led.process([vcancel("c", "1", 4, True, "A")])  # the rest restocked; the kept one stays out
    assert d["lines"][0]["delta"] == 1 and led.records["A"].available == 9


def test_a_cancel_without_restock_returns_nothing() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    led.process([doc("v1", "1", 1, ("A", 4, 0), kind="order_placed")])
    [d] = led.process([vcancel("c", "1", 2, False, "A")])
    assert d["outcome"] == "applied" and d["lines"][0]["outcome"] == "cancelled"
    assert led.records["A"].available == 6


def test_a_parked_cancel_without_restock_takes_the_units_of_its_late_order() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    assert led.process([vcancel("c", "1", 2, False, "A")])[0]["outcome"] == "parked"
    [o] = led.process([doc("v1", "1", 1, ("A", 4, 0), kind="order_placed")])
    assert o["outcome"] == "cancelled" and led.records["A"].available == 6  # the units are gone


def test_a_version_newer_than_a_parked_cancel_wins() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    led.process([vcancel("c", "1", 2, True, "A")])
    [o] = led.process([doc("v3", "1", 3, ("A", 4, 0))])
    assert o["outcome"] == "applied" and led.records["A"].available == 6


def test_an_unversioned_cancel_is_final() -> None:
    led = ledger()
    led.process([stock_set("s", "A", 10)])
    led.process([doc("v1", "1", 1, ("A", 4, 0), kind="order_placed")])
    led.process([vcancel("c", "1", None, True, "A")])
    [late] = led.process([doc("v9", "1", 9, ("A", 4, 0))])
    assert late["outcome"] == "stale" and led.records["A"].available == 10


def test_a_stock_take_never_cuts_into_held_units() -> None:
    """Defect 1: set 5, hold 5, set 0 -> available was -5 and on hand -5 after the commit."""
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    led.process([reserve("r", "t1", "1", ("A", 5))])
    [d] = led.process([stock_set("s0", "A", 0)])
    assert d["lines"][0]["outcome"] == "clamped"
    assert (led.records["A"].on_hand, led.records["A"].available) == (5, 0)
    led.process([settle("order_commit", "t1", "1", "A")])
    assert (led.records["A"].on_hand, led.records["A"].reserved) == (0, 0)


def test_a_cancel_of_a_reserved_order_is_refused_and_leaks_nothing() -> None:
    """Defect 2: the cancel marked the reserved order cancelled and its release then held forever."""
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    led.process([reserve("r", "t1", "1", ("A", 2))])
    [c] = led.process([cancel("c", "1", "A", channel="pos")])
    assert c["outcome"] == "still_reserved" and led.records["A"].reserved == 2
    [rel] = led.process([settle("order_release", "t1", "1", "A")])
    assert rel["outcome"] == "released" and (led.records["A"].reserved, led.records["A"].available) == (0, 5)


def test_a_reservation_belongs_to_its_transaction() -> None:
    """Defect 3: a second transaction for the order id got the first one's hold and committed it."""
    led = ledger()
    led.process([stock_set("s", "A", 5)])
    led.process([reserve("r1", "t1", "1", ("A", 2))])
    [r2] = led.process([reserve("r2", "t2", "1", ("A", 3))])
    assert r2["outcome"] == "order_exists" and led.records["A"].reserved == 2
    [c2] = led.process([settle("order_commit", "t2", "1", "A")])
    assert c2["outcome"] == "order_exists" and led.records["A"].reserved == 2
    [rel] = led.process([settle("order_release", "t2", "1", "A")])
    assert rel["outcome"] == "order_exists" and led.records["A"].reserved == 2
    [c1] = led.process([settle("order_commit", "t1", "1", "A")])
    assert c1["outcome"] == "accepted" and (led.records["A"].on_hand, led.records["A"].reserved) == (3, 0)


def test_a_key_reused_with_another_payload_is_refused_on_every_vshard() -> None:
    """Defect 5: the new SKU's vshard had never seen the key and took the unit."""
    led = Ledger(ShardMap(1, vshards=64), clock=lambda: 0.0)
    a, b = (
        "A",
        next(
            s for s in (f"B{i}" for i in range(100)) if led.shard_map.vshard(s) != led.shard_map.vshard("A")
        ),
    )
    led.process([stock_set("sa", a, 5), stock_set("sb", b, 5)])
    led.process([order("k", "1", (a, 1))])
    for again in (order("k", "1", (b, 1)), order("k", "1", (a, 1), (b, 1))):
        [d] = led.process([again])
        assert d["outcome"] == "conflict" and d["lines"] == []
    assert (led.records[a].available, led.records[b].available) == (4, 5)


def reserve(key: str, txn: str, order_id: str, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "kind": "order_reserve",
        "key": key,
        "txn": txn,
        "channel": "pos",
        "order_id": order_id,
        "lines": [{"sku": s, "quantity": q} for s, q in lines],
    }


def settle(kind: str, txn: str, order_id: str, *skus: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": f"{txn}:{kind}",
        "txn": txn,
        "channel": "pos",
        "order_id": order_id,
        "skus": list(skus),
    }
