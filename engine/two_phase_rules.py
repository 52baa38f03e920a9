"""Rules for the seller's own all-or-nothing orders: reserve, then commit or release.

A reservation holds units (``reserved`` rises, ``available`` falls) without selling them; commit
turns held units into a sale, release gives them back. Each step is idempotent and checks the
order's status, so a coordinator that dies and retries, or a sweeper racing it, cannot sell or
return a unit twice. ``engine.two_phase`` drives the protocol across shards.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.ledger import VShardWrites
    from engine.records import SkuRecord
    from engine.rules import Staging
    from engine.wire import WireDecision


def order_reserve(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Hold every line of this part, or none: a part short on any SKU reserves nothing."""
    existing = st.order(vs, ev)
    if existing is not None:
        return st.decision(ev, existing["status"], existing["lines"])
    want = Counter[str]()
    for ln in ev["lines"]:
        want[ln["sku"]] += ln["quantity"]
    records = {sku: st.record(sku) for sku in want}
    short = {sku for sku, q in want.items() if (rec := records[sku]) is None or rec.available < q}
    if short:
        lines = [
            _unheld(ln, records[ln["sku"]], "insufficient" if ln["sku"] in short else "not_reserved")
            for ln in ev["lines"]
        ]
        return st.decision(ev, "insufficient", lines)
    lines = []
    for ln in ev["lines"]:
        rec = records[ln["sku"]]
        assert rec is not None  # every SKU was checked above
        line = st.change(vs, ev, w, ln["sku"], rec, 0, "reserved", held=ln["quantity"])
        line["requested"], line["accepted"] = ln["quantity"], 0
        lines.append(line)
    st.put_order(vs, ev, w, {"status": "reserved", "txn": ev["txn"], "lines": lines, "at": st.now})
    return st.decision(ev, "reserved", lines)


def _unheld(ln: dict[str, Any], rec: SkuRecord | None, outcome: str) -> dict[str, Any]:
    return {
        "sku": ln["sku"],
        "outcome": outcome,
        "delta": 0,
        "requested": ln["quantity"],
        "accepted": 0,
        "available": rec.available if rec else None,
        "version": rec.version if rec else None,
    }


def order_commit(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Sell the held units: on hand and reserved both fall, available stays where it is."""
    return _settle(st, vs, ev, w, sell=True)


def order_release(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Give the held units back to available."""
    return _settle(st, vs, ev, w, sell=False)


def _settle(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, sell: bool) -> WireDecision:
    existing = st.order(vs, ev)
    if existing is None:
        if not sell:  # a late reserve must find this tombstone and hold nothing
            st.put_order(vs, ev, w, {"status": "released", "txn": ev["txn"], "lines": [], "at": st.now})
            return st.decision(ev, "released", [])
        return st.decision(ev, "unknown_order", [])
    if existing["status"] != "reserved":
        return st.decision(ev, f"already_{existing['status']}", [])
    lines = []
    for held in existing["lines"]:
        q = held["requested"]
        rec = st.record(held["sku"])
        assert rec is not None  # a reservation holds units of a known SKU
        line = st.change(
            vs, ev, w, held["sku"], rec, -q if sell else 0, "accepted" if sell else "released", held=-q
        )
        line["requested"], line["accepted"] = q, q if sell else 0
        lines.append(line)
    status = "accepted" if sell else "released"
    st.put_order(vs, ev, w, {**existing, "status": status, "lines": lines, "at": st.now})
    return st.decision(ev, status, lines)
