"""Rules for the seller's own all-or-nothing orders: reserve, then commit or release.

A reservation holds units (``reserved`` rises, ``available`` falls) without selling them; commit
turns held units into a sale, release gives them back. Each step is decided per (order, SKU) line
and belongs to its transaction (``txn``): a line of the same order id held by another transaction
or placed by a marketplace answers ``order_exists`` and is not touched, so a second request for an
existing order id can neither take nor release the first one's units. Each step is idempotent and
checks the line's status, so a coordinator that dies and retries, or a sweeper racing it, cannot
sell or return a unit twice. ``engine.two_phase`` drives the protocol across shards and decides
"all or nothing" from these per-line answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.order_rules import GONE, Line, line_map, needs_decision, outcome_of, put, view

if TYPE_CHECKING:
    from engine.ledger import VShardWrites
    from engine.rules import Staging
    from engine.wire import WireDecision


def order_reserve(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Hold each line's units if available; a line short of them holds nothing (``insufficient``)."""
    existing = st.order(vs, ev)
    if existing is GONE:  # an order id whose record expired: not a new one
        return needs_decision(st, vs, ev, w, (ln["sku"] for ln in ev["lines"]))
    lines = line_map(existing)
    want: dict[str, int] = {}
    for ln in ev["lines"]:
        want[ln["sku"]] = want.get(ln["sku"], 0) + ln["quantity"]
    out, classes = [], []
    for sku, q in want.items():
        cls, shown = _reserve_line(st, vs, ev, w, lines, sku, q)
        classes.append(cls)
        out.append(shown)
    put(st, vs, ev, w, existing, lines)
    return st.decision(ev, outcome_of(classes), out)


def _reserve_line(
    st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, lines: dict[str, Line], sku: str, q: int
) -> tuple[str, dict[str, Any]]:
    line = lines.get(sku)
    if line is not None and line.get("txn") == ev["txn"]:  # a repeat, or this txn's late release
        return line["status"], view(st, sku, line, line["status"])
    if line is not None and not (line.get("txn") and line["status"] == "released"):
        return "order_exists", view(st, sku, line, "order_exists")
    # no line, or one another transaction released without selling: the order id is free here
    rec = st.record(sku)
    if rec is None or rec.available < q:
        return "insufficient", {
            "sku": sku, "outcome": "insufficient", "delta": 0, "requested": q, "accepted": 0,
            "available": rec.available if rec else None, "version": rec.version if rec else None,
        }
    shown = st.change(vs, ev, w, sku, rec, 0, "reserved", held=q)
    shown["requested"], shown["accepted"] = q, 0
    lines[sku] = {
        "sku": sku, "txn": ev["txn"], "status": "reserved", "held": q, "q": q, "ver": 0,
        "requested": q, "accepted": 0, "outcome": "reserved",
    }
    return "reserved", shown


def order_commit(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Sell the held units: on hand and reserved both fall, available stays where it is."""
    return _settle(st, vs, ev, w, sell=True)


def order_release(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Give the held units back to available."""
    return _settle(st, vs, ev, w, sell=False)


def _settle(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, sell: bool) -> WireDecision:
    existing = st.order(vs, ev)
    if existing is GONE:
        return needs_decision(st, vs, ev, w, ev["skus"])
    lines = line_map(existing)
    out, classes = [], []
    for sku in dict.fromkeys(ev["skus"]):
        cls, shown = _settle_line(st, vs, ev, w, lines, sku, sell)
        classes.append(cls)
        out.append(shown)
    put(st, vs, ev, w, existing, lines)
    return st.decision(ev, outcome_of(classes), out)


def _settle_line(
    st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, lines: dict[str, Line], sku: str, sell: bool
) -> tuple[str, dict[str, Any]]:
    line = lines.get(sku)
    if line is None:
        if sell:
            return "unknown_order", view(st, sku, {}, "unknown_order")
        # a late reserve of this transaction must find this tombstone and hold nothing
        line = lines[sku] = {
            "sku": sku, "txn": ev["txn"], "status": "released", "held": 0, "q": 0, "ver": 0,
            "requested": 0, "accepted": 0, "outcome": "released",
        }
        return "released", view(st, sku, line, "released")
    if line.get("txn") != ev["txn"]:
        return "order_exists", view(st, sku, line, "order_exists")
    if line["status"] != "reserved":
        return f"already_{line['status']}", view(st, sku, line, f"already_{line['status']}")
    q = line["held"]
    rec = st.record(sku)
    assert rec is not None  # a reservation holds units of a known SKU
    status = "accepted" if sell else "released"
    shown = st.change(vs, ev, w, sku, rec, -q if sell else 0, status, held=-q)
    shown["requested"], shown["accepted"] = q, q if sell else 0
    line.update(status=status, held=0, outcome=status, accepted=q if sell else 0, requested=q if sell else 0)
    if not sell:
        line["q"] = 0
    return status, shown
