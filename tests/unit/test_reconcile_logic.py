"""Reconciliation's pure logic: backfilled orders count once with webhooks; corrections stay within master."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.buffer_rules import BufferRule, BufferRules
from engine.ledger import Ledger
from engine.reconcile import (
    ChannelOrder,
    DriftReport,
    backfill_events,
    backfill_key,
    compare,
    next_watermark,
    query_since,
)
from engine.routing import ShardMap


def ledger_with(stock: dict[str, int]) -> Ledger:
    led = Ledger(ShardMap(1, 8), clock=lambda: 1000.0)
    led.process([{"kind": "stock_set", "key": f"set-{s}", "sku": s, "quantity": q} for s, q in stock.items()])
    return led


def webhook_event(order: ChannelOrder, key: str) -> dict[str, Any]:
    """What the inbound path makes of the order: a delivery-derived key, the same lines."""
    return {
        "key": key,
        "at": order.at,
        "kind": "order_placed",
        "channel": "shop",
        "order_id": order.order_id,
        "lines": [{"sku": s, "quantity": q} for s, q in order.lines],
    }


def available(led: Ledger, sku: str) -> int:
    return led.records[sku].available


def test_backfill_events_skip_known_and_keep_cancels() -> None:
    orders = [
        ChannelOrder("1", (("a", 1),), 10.0, 11.0),
        ChannelOrder("2", (("b", 2),), 12.0, 13.0),
        ChannelOrder("3", (("a", 1), ("b", 1)), 14.0, 20.0, cancelled=True),
        ChannelOrder("4", (), 15.0, 15.0),
        ChannelOrder("1", (("a", 5),), 10.0, 11.0),
    ]
    events = backfill_events("shop", orders, known={"2", "3"})
    assert [(e["kind"], e["order_id"]) for e in events] == [
        ("order_placed", "1"),
        ("order_cancelled", "3"),
    ]
    assert events[0]["key"] == backfill_key("shop", "1", "placed")
    assert events[0]["lines"] == [{"sku": "a", "quantity": 1, "kept": 0}]
    assert events[1]["skus"] == ["a", "b"]


def test_webhook_then_backfill_counts_once() -> None:
    led = ledger_with({"a": 10})
    order = ChannelOrder("o1", (("a", 3),), 100.0, 100.0)
    led.process([webhook_event(order, "shopify:evt-1")])
    decisions = led.process(backfill_events("shop", [order]))
    assert decisions[0]["outcome"] == "duplicate_order"
    assert available(led, "a") == 7


def test_backfill_then_late_webhook_counts_once() -> None:
    led = ledger_with({"a": 10})
    order = ChannelOrder("o1", (("a", 3),), 100.0, 100.0)
    assert led.process(backfill_events("shop", [order]))[0]["outcome"] == "applied"
    assert led.process([webhook_event(order, "shopify:evt-1")])[0]["outcome"] == "duplicate_order"
    # a second reconciliation over an overlapping window replays the first answer
    assert led.process(backfill_events("shop", [order]))[0]["outcome"] == "applied"
    assert available(led, "a") == 7


def test_same_batch_counts_once() -> None:
    led = ledger_with({"a": 10})
    order = ChannelOrder("o1", (("a", 3),), 100.0, 100.0)
    led.process([webhook_event(order, "shopify:evt-1"), *backfill_events("shop", [order])])
    assert available(led, "a") == 7


def test_backfilled_cancel_returns_units_once() -> None:
    led = ledger_with({"a": 10})
    placed = ChannelOrder("o1", (("a", 3),), 100.0, 100.0)
    led.process([webhook_event(placed, "shopify:evt-1")])
    cancelled = ChannelOrder("o1", (("a", 3),), 100.0, 200.0, cancelled=True)
    led.process(backfill_events("shop", [cancelled], known={"o1"}))
    led.process(backfill_events("shop", [cancelled], known={"o1"}))
    assert available(led, "a") == 10


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.booleans(), st.booleans()),
        min_size=1,
        max_size=25,
    ),
    st.randoms(use_true_random=False),
)
def test_any_mix_of_paths_counts_each_order_once(plan: list[tuple[int, bool, bool]], rnd: Any) -> None:
    """Each order: webhook delivered or lost, backfilled once or twice, in any interleaving."""
    led = ledger_with({"a": 1000})
    orders = [ChannelOrder(f"o{i}", (("a", q),), float(i), float(i)) for i, (q, _, _) in enumerate(plan)]
    deliveries: list[list[dict[str, Any]]] = []
    for i, (order, (_, delivered, twice)) in enumerate(zip(orders, plan, strict=True)):
        if delivered:
            deliveries.append([webhook_event(order, f"shopify:evt-{i}")])
        deliveries.extend([backfill_events("shop", [order])] * (2 if twice else 1))
    rnd.shuffle(deliveries)
    for batch in deliveries:
        led.process(batch)
    assert available(led, "a") == 1000 - sum(q for q, _, _ in plan)


def test_watermark_moves_forward_only() -> None:
    orders = [ChannelOrder("1", (("a", 1),), 5.0, 50.0), ChannelOrder("2", (("a", 1),), 6.0, 40.0)]
    assert next_watermark(10.0, orders) == 50.0
    assert next_watermark(60.0, orders) == 60.0
    assert next_watermark(7.0, []) == 7.0
    assert query_since(50.0, 60.0) == 0.0
    assert query_since(500.0, 60.0) == 440.0


def test_compare_corrects_only_drifted_skus() -> None:
    rules = BufferRules(BufferRule(fixed=2))
    out = compare(
        listed={"a": 8, "b": 3, "c": 0, "x": 4},
        master={"a": (10, 7), "b": (10, 3), "c": (1, 9)},
        quantity=lambda sku, avail: max(0, rules.listed(sku, avail)),
    )
    assert out.checked == 3
    assert out.drifted == ["b"]
    assert [(c.sku, c.quantity, c.version, c.listed) for c in out.corrections] == [("b", 8, 3, 3)]
    assert out.unmanaged == ["x"]


@given(
    st.dictionaries(
        st.sampled_from([f"s{i}" for i in range(12)]),
        st.tuples(st.integers(-5, 50), st.integers(0, 100), st.integers(0, 60)),
    ),
    st.integers(-3, 5),
)
def test_corrections_never_exceed_master(data: dict[str, tuple[int, int, int]], bonus: int) -> None:
    """Even a rule that would list more than master holds is clamped; right SKUs are left alone."""
    listed = {sku: lst for sku, (_, _, lst) in data.items()}
    master = {sku: (avail, ver) for sku, (avail, ver, _) in data.items()}
    out = compare(listed, master, lambda sku, avail: avail + bonus)
    assert out.checked == len(data)
    for c in out.corrections:
        assert 0 <= c.quantity <= max(0, master[c.sku][0])
        assert c.quantity != listed[c.sku]
    untouched = set(data) - {c.sku for c in out.corrections}
    for sku in untouched:
        assert listed[sku] == min(max(0, master[sku][0] + bonus), max(0, master[sku][0]))


def test_report_round_trip_caps_lists() -> None:
    report = DriftReport("shop", 1.0, drifted_skus=[f"s{i}" for i in range(300)])
    data = report.to_json()
    assert len(data["drifted_skus"]) == 100
    assert DriftReport.from_json({**data, "future_field": 1}).channel == "shop"


# -- versioned documents (Shopify) ------------------------------------------------------------
def doc(
    version: int, lines: tuple[tuple[str, int], ...], kept: tuple[int, ...] = (), **kw: Any
) -> ChannelOrder:
    return ChannelOrder("o1", lines, 100.0, version / 1000, version=version, kept=kept, **kw)


def test_each_version_of_a_document_has_its_own_key_and_newer_versions_move_the_difference() -> None:
    led = ledger_with({"a": 10, "b": 10})
    first = backfill_events("shop", [doc(1000, (("a", 3), ("b", 2)))])
    assert [(e["kind"], e["key"], e["version"]) for e in first] == [
        ("order_placed", "reconcile:shop:o1:v1000", 1000)
    ]
    led.process(first)
    edited = doc(2000, (("a", 1), ("b", 0)), (1, 0))  # 1 unit of a kept by a no_restock refund
    events = backfill_events("shop", [edited], known={"o1": 1000})
    assert [(e["kind"], e["key"]) for e in events] == [("order_updated", "reconcile:shop:o1:v2000")]
    assert events[0]["lines"] == [
        {"sku": "a", "quantity": 1, "kept": 1},
        {"sku": "b", "quantity": 0, "kept": 0},
    ]
    led.process(events)
    assert (available(led, "a"), available(led, "b")) == (8, 10)
    assert backfill_events("shop", [edited], known={"o1": 2000}) == []  # master holds this version
    again = led.process(backfill_events("shop", [edited], known={"o1"}))  # same key: first answer again
    assert [d["outcome"] for d in again] == ["applied"]
    assert (available(led, "a"), available(led, "b")) == (8, 10)


def test_a_cancelled_document_brings_its_cancel_at_the_same_version() -> None:
    led = ledger_with({"a": 10})
    led.process(backfill_events("shop", [doc(1000, (("a", 3),))]))
    gone = doc(2000, (("a", 0),), (0,), cancelled=True, restock=True)
    events = backfill_events("shop", [gone], known={"o1": 1000})
    assert [(e["kind"], e["key"]) for e in events] == [
        ("order_updated", "reconcile:shop:o1:v2000"),
        ("order_cancelled", "reconcile:shop:o1:v2000:cancelled"),
    ]
    assert events[1]["restock"] is True and events[1]["version"] == 2000
    led.process(events)
    assert available(led, "a") == 10


def test_a_relisted_document_keeps_its_newest_version() -> None:
    old, new = doc(1000, (("a", 3),)), doc(3000, (("a", 1),))
    assert [e["version"] for e in backfill_events("shop", [old, new, old])] == [3000]


def test_webhook_and_backfill_of_one_version_count_once() -> None:
    led = ledger_with({"a": 10})
    listed = doc(1000, (("a", 3),))
    webhook = {
        "key": "shopify:orders/create:o1:evt-1",
        "at": 1.0,
        "kind": "order_placed",
        "channel": "shop",
        "order_id": "o1",
        "version": 1000,
        "lines": [{"sku": "a", "quantity": 3, "kept": 0}],
    }
    led.process([webhook])
    assert [d["outcome"] for d in led.process(backfill_events("shop", [listed]))] == ["duplicate_order"]
    assert available(led, "a") == 7
