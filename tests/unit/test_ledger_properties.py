"""Property tests: any interleaving of orders, cancels, restocks, stock sets and redeliveries."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ledger import Ledger
from engine.order_rules import SETTLED
from engine.routing import ShardMap

SKUS = ["A", "B", "C"]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A sequence of events with unique keys, plus redeliveries of earlier ones in random places."""
    events: list[dict[str, Any]] = []
    n = draw(st.integers(1, 40))
    for i in range(n):
        kind = draw(st.sampled_from(["order", "order", "order", "cancel", "restock", "set", "damage"]))
        if kind == "order":
            lines = draw(
                st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=3)
            )
            events.append(
                {
                    "kind": "order_placed",
                    "key": f"k{i}",
                    "channel": "c",
                    "order_id": f"o{i}",
                    "lines": [{"sku": s, "quantity": q} for s, q in lines],
                }
            )
        elif kind == "cancel":
            target = draw(st.integers(0, n))  # may name an order that comes later, or never
            events.append(
                {
                    "kind": "order_cancelled",
                    "key": f"k{i}",
                    "channel": "c",
                    "order_id": f"o{target}",
                    "skus": SKUS,
                }
            )
        elif kind == "restock":
            events.append(
                {
                    "kind": "stock_adjusted",
                    "key": f"k{i}",
                    "sku": draw(st.sampled_from(SKUS)),
                    "delta": draw(st.integers(0, 5)),
                    "reason": "restock",
                }
            )
        elif kind == "damage":
            events.append(
                {
                    "kind": "stock_adjusted",
                    "key": f"k{i}",
                    "sku": draw(st.sampled_from(SKUS)),
                    "delta": -draw(st.integers(1, 5)),
                    "reason": "damage",
                }
            )
        else:
            events.append(
                {
                    "kind": "stock_set",
                    "key": f"k{i}",
                    "sku": draw(st.sampled_from(SKUS)),
                    "quantity": draw(st.integers(0, 8)),
                }
            )
    dups = draw(
        st.lists(st.tuples(st.integers(0, len(events) - 1), st.integers(0, len(events))), max_size=15)
    )
    delivered = list(events)
    for src, pos in dups:
        delivered.insert(min(pos, len(delivered)), events[src])
    return delivered


def run(events: list[dict[str, Any]], batch: int) -> tuple[Ledger, list[dict[str, Any]]]:
    led = Ledger(ShardMap(1, vshards=8), clock=lambda: 0.0)
    led.process([{"kind": "stock_set", "key": f"init-{s}", "sku": s, "quantity": 5} for s in SKUS])
    out: list[dict[str, Any]] = []
    for i in range(0, len(events), batch):
        out += led.process(events[i : i + batch])
    return led, out


def assert_replayed(again: dict[str, Any], first: dict[str, Any]) -> None:
    """What a key promises (``engine.idempotency``): recorded lines come back as they were; a line
    that changed nothing (``SETTLED``) is not recorded and is decided again: it may show the counts
    of now, and may turn from one settled class into another, but never moves stock."""
    assert {k: v for k, v in again.items() if k not in ("lines", "outcome")} == {
        k: v for k, v in first.items() if k not in ("lines", "outcome")
    }
    assert len(again["lines"]) == len(first["lines"])
    all_settled = True
    for line, was in zip(again["lines"], first["lines"], strict=True):
        if was["outcome"] in SETTLED:
            assert (line["sku"], line["delta"]) == (was["sku"], 0) and line["outcome"] in SETTLED, line
        else:
            all_settled = False
            assert line == was
    if not all_settled:
        assert again["outcome"] == first["outcome"]


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(1, 7))
def test_invariants(events: list[dict[str, Any]], batch: int) -> None:
    led, decisions = run(events, batch)
    first: dict[str, dict[str, Any]] = {}
    moved = {s: 0 for s in SKUS}  # units moved by orders and cancels (negative = sold)
    outside = {s: 0 for s in SKUS}  # units moved by restocks, damage and stock sets
    for ev, d in zip(events, decisions, strict=True):
        if ev["key"] in first:  # a redelivery: the same answer, no effect
            assert_replayed(d, first[ev["key"]])
            continue
        first[ev["key"]] = d
        for line in d["lines"]:
            if line.get("available") is not None:
                assert line["available"] >= 0
            target = moved if ev["kind"] in ("order_placed", "order_cancelled") else outside
            target[line["sku"]] += line["delta"]
    for s in SKUS:
        rec = led.records[s]
        assert rec.available >= 0
        # conservation: accepted units = initial - final + restocks (and stock-set deltas)
        assert -moved[s] == 5 - rec.available + outside[s]


@settings(max_examples=200, deadline=None)
@given(histories())
def test_batching_and_duplicates_change_nothing(events: list[dict[str, Any]]) -> None:
    """The same deliveries decided one at a time or in batches end in the same state."""
    one, _ = run(events, 1)
    many, _ = run(events, 16)
    unique = list({e["key"]: e for e in events}.values())
    first_only, _ = run(sorted(unique, key=lambda e: events.index(e)), 16)
    for s in SKUS:
        assert one.records[s] == many.records[s] == first_only.records[s]


@settings(max_examples=200, deadline=None)
@given(histories())
def test_cancel_returns_exactly_what_was_accepted(events: list[dict[str, Any]]) -> None:
    _, decisions = run(events, 5)
    accepted: dict[str, dict[str, int]] = {}
    for ev, d in zip(events, decisions, strict=True):
        if ev["kind"] == "order_placed" and d["outcome"] == "applied":
            accepted[ev["order_id"]] = {}
            for line in d["lines"]:
                accepted[ev["order_id"]][line["sku"]] = (
                    accepted[ev["order_id"]].get(line["sku"], 0) + line["accepted"]
                )
        if ev["kind"] == "order_cancelled" and d["outcome"] == "applied":
            returned: dict[str, int] = {}
            for line in d["lines"]:
                if line["delta"]:
                    returned[line["sku"]] = returned.get(line["sku"], 0) + line["delta"]
            want = {s: q for s, q in accepted[ev["order_id"]].items() if q}
            assert returned == want
