"""Replays that move nothing cost no storage (issue 21 item 2), and what an unrecorded key answers.

A captured order body re-sent under ever new keys used to write, each time, an idempotency record
holding the answer of every line (``engine.idempotency``, "What is recorded"). The tests that
assert nothing is written fail on the ledger before that rule (commit 8a88988), which recorded
every part; the last one guards what must stay recorded and passes there too.
"""

from __future__ import annotations

from typing import Any

from engine import idempotency
from engine.ledger import Ledger, Plan
from engine.routing import ShardMap

Writes = dict[int, dict[str, Any]]


def ledger() -> Ledger:
    return Ledger(ShardMap(1, vshards=64), clock=lambda: 1000.0)


def doc(key: str, version: int, *lines: tuple[str, int], kind: str = "order_updated") -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "channel": "shop",
        "order_id": "1",
        "version": version,
        "lines": [{"sku": s, "quantity": q, "kept": 0} for s, q in lines],
    }


def vcancel(key: str, version: int | None, *skus: str) -> dict[str, Any]:
    return {
        "kind": "order_cancelled",
        "key": key,
        "channel": "shop",
        "order_id": "1",
        "skus": list(skus),
        "version": version,
        "restock": True,
    }


def stock(led: Ledger, **counts: int) -> None:
    led.process([{"kind": "stock_set", "key": f"s-{s}", "sku": s, "quantity": q} for s, q in counts.items()])


def run(led: Ledger, *events: dict[str, Any]) -> tuple[list[dict[str, Any]], Writes]:
    """Decide ``events`` as one batch; their decisions and every non-empty write of the batch."""
    captured: Writes = {}
    apply = led.apply

    def spy(plan: Plan) -> None:
        for vs, w in plan.writes.items():
            kinds = {"stock": w.stock, "idem": w.idem, "audit": w.audit, "orders": w.orders}
            if any(kinds.values()):
                captured[vs] = {name: value for name, value in kinds.items() if value}
        apply(plan)

    led.apply = spy  # type: ignore[method-assign]
    try:
        decisions = led.process(list(events))
    finally:
        del led.apply
    return decisions, captured


def two_vshards(led: Ledger) -> tuple[str, str]:
    a = "A"
    b = next(s for s in (f"B{i}" for i in range(100)) if led.shard_map.vshard(s) != led.shard_map.vshard(a))
    return a, b


def test_a_large_body_replayed_under_new_keys_writes_nothing() -> None:
    led = ledger()
    skus = [f"S{i:04d}" for i in range(1000)]
    stock(led, **dict.fromkeys(skus, 5))
    body = [(s, 1) for s in skus]
    [first], writes = run(led, doc("k0", 7, *body, kind="order_placed"))
    assert first["outcome"] == "applied" and writes  # the sale itself is recorded
    stored = dict(led.memory)
    for n in range(1, 21):
        [again], writes = run(led, doc(f"k{n}", 7, *body, kind="order_placed"))
        assert again["outcome"] == "duplicate_order"
        assert writes == {}, f"replay {n} wrote {sorted(writes)}"
    assert led.memory == stored
    assert all(led.records[s].available == 4 for s in skus)


def test_a_cancelled_body_replayed_writes_nothing() -> None:
    """A Shopify cancelled order: its document and its cancel at one version, re-sent."""
    led = ledger()
    stock(led, A=5, B=5)
    run(led, doc("k1", 1, ("A", 2), ("B", 1), kind="order_placed"))
    run(led, doc("k2", 2, ("A", 0), ("B", 0)), vcancel("k2:cancelled", 2, "A", "B"))
    stored = dict(led.memory)
    answers, writes = run(led, doc("k3", 2, ("A", 0), ("B", 0)), vcancel("k3:cancelled", 2, "A", "B"))
    assert [d["outcome"] for d in answers] == ["duplicate_order", "already_cancelled"]
    assert writes == {} and led.memory == stored
    assert (led.records["A"].available, led.records["B"].available) == (5, 5)


def test_a_retried_unrecorded_key_may_turn_stale_but_never_moves() -> None:
    led = ledger()
    stock(led, A=10)
    run(led, doc("k1", 1, ("A", 3), kind="order_placed"))
    [dup], _ = run(led, doc("k2", 1, ("A", 3), kind="order_placed"))
    assert dup["outcome"] == "duplicate_order"
    run(led, doc("k3", 2, ("A", 1)))  # an edit: 2 units back
    [retry], writes = run(led, doc("k2", 1, ("A", 3), kind="order_placed"))
    assert retry["outcome"] == "stale" and retry["lines"][0]["delta"] == 0
    assert writes == {} and led.records["A"].available == 9


def test_a_part_that_moved_is_recorded_and_its_key_refuses_another_payload() -> None:
    led = ledger()
    a, b = two_vshards(led)
    stock(led, **{a: 5, b: 5})
    run(led, doc("k1", 1, (a, 1), kind="order_placed"))
    [d], writes = run(led, doc("k2", 1, (a, 1), (b, 2)))  # a: the same version again; b: new
    assert [ln["outcome"] for ln in d["lines"]] == ["accepted", "accepted"] and d["outcome"] == "mixed"
    va, vb = led.shard_map.vshard(a), led.shard_map.vshard(b)
    assert "audit" not in writes.get(va, {}) and "stock" not in writes.get(va, {})
    assert list(idempotency.parse(led.memory["k2"])[1]) == [str(vb)]  # only the part that moved
    [other], _ = run(led, doc("k2", 1, (a, 4), (b, 4)))
    assert other["outcome"] == "conflict"
    [retry], writes = run(led, doc("k2", 1, (a, 1), (b, 2)))
    assert retry == d and writes == {}  # b replayed, a decided again alike
    assert (led.records[a].available, led.records[b].available) == (4, 3)


def test_a_cancel_a_newer_version_could_undo_keeps_its_record() -> None:
    """``already_cancelled`` for a cancel newer than the line: a version between the two would
    un-cancel the line and, decided again, the cancel would apply; so it is recorded."""
    led = ledger()
    stock(led, A=5)
    run(led, doc("k1", 1, ("A", 2), kind="order_placed"))
    run(led, vcancel("k2", 1, "A"))
    [late], writes = run(led, vcancel("k3", 3, "A"))
    assert late["outcome"] == "already_cancelled" and writes  # recorded
    [again], writes = run(led, vcancel("k4", 1, "A"))
    assert again["outcome"] == "already_cancelled" and writes == {}  # no newer than the line
    run(led, doc("k5", 2, ("A", 2)))  # un-cancelled at version 2: takes 2 again
    [retry], _ = run(led, vcancel("k3", 3, "A"))
    assert retry == late and led.records["A"].available == 3


def test_an_unversioned_cancel_is_final_so_its_repeats_write_nothing() -> None:
    led = ledger()
    stock(led, A=5)
    run(led, doc("k1", 1, ("A", 2), kind="order_placed"))
    run(led, vcancel("k2", None, "A"))
    for key in ("k3", "k4"):
        [d], writes = run(led, vcancel(key, None, "A"))
        assert d["outcome"] == "already_cancelled" and writes == {}
    assert led.records["A"].available == 5


def test_a_refusal_that_depends_on_stock_is_recorded() -> None:
    """An own-checkout reservation short of units could succeed later: its answer is kept."""
    led = ledger()
    stock(led, A=1)
    reserve = {
        "kind": "order_reserve",
        "key": "r1",
        "txn": "t1",
        "channel": "pos",
        "order_id": "9",
        "lines": [{"sku": "A", "quantity": 2}],
    }
    [short], writes = run(led, reserve)
    assert short["outcome"] == "insufficient" and writes
    stock(led, A=10)
    [retry], _ = run(led, reserve)
    assert retry == short and led.records["A"].reserved == 0
