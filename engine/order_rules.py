"""Orders as versioned documents: every delivery says what the order holds now, per line.

A vshard keeps, for each order, the lines it owns; each line remembers the order version that last
set it, what that version asked for and what master granted. A delivery is decided line by line:

- a newer version moves stock by the difference between what the line now holds and what it held
  (an edit that adds units takes them, if available; one that lowers them returns them);
- an older or equal version moves nothing (``stale``, or ``duplicate_order`` for the same version:
  the same order reached us by another key or path, e.g. webhook and backfill);
- a cancel returns what the line holds, less what earlier refunds kept, when it restocks, and
  nothing when it does not; it is ``stale`` only when older than the line (at an equal version the
  cancel wins); a cancel that comes before its order is parked and decides the order's lines when
  they arrive (unless they are a newer version);
- lines of the seller's own two-step orders (``txn``) belong to ``engine.two_phase_rules``: an order
  event naming them answers ``order_exists`` and changes nothing; a cancel of one still held is
  refused (``still_reserved``) rather than stranding its hold.

Everything is decided per (order, SKU) line, so the outcome does not depend on which SKUs share a
vshard. Line state stored in the order record: ``ver`` (order version; ``None`` for an unversioned
cancel), ``q`` and ``kept`` (``engine.events.DocLine``), ``requested`` (units the line should hold
out of master), ``accepted`` (units it does hold), ``outcome``, and the flags ``cancelled``,
``restock``, ``parked`` (a cancel without its order yet), ``final`` (no later version undoes it).

Records are kept for a retention window after their last change (``engine.store.order_windows``).
An event for an order whose record has expired (the store finds its marker: ``GONE``) is answered
``needs_decision`` on every line of that vshard and moves nothing: the ledger no longer knows what
the order holds, and taking it for a new order would count its units twice (or park a cancel that
never returns them). Its audit entries (outcome ``needs_decision``) show the operator the lines to
decide by hand, e.g. a stock adjustment for a late refund that restocks. Its answer is recorded
under its key like any other, so a retry neither moves stock nor adds entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.ledger import VShardWrites
    from engine.rules import Staging
    from engine.wire import WireDecision

Line = dict[str, Any]

EXPIRED = "expired"
"""What the store reads for an order whose record expired while its marker is live."""
GONE: dict[str, Any] = {"status": "expired", "lines": []}
"""The record ``Staging.order`` returns for such an order (compared by identity, never stored)."""

SETTLED = frozenset({"duplicate_order", "stale", "already_cancelled"})
"""Line classes that change nothing and that deciding the line again can only repeat or turn into
another of them (``already_cancelled`` only when ``stays_cancelled``): a line's version only grows
and lines are never removed from the record. A part whose every line is settled is not recorded
(``engine.idempotency``, "What is recorded")."""


def order_doc(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """``order_placed`` / ``order_updated``: apply this version of the order's lines on this vshard."""
    existing = st.order(vs, ev)
    if existing is None:
        return _first(st, vs, ev, w)
    if existing is GONE:
        return needs_decision(st, vs, ev, w, doc_lines(ev["lines"]))
    lines = line_map(existing)
    ver = ev.get("version", 0)
    out, classes = [], []
    for sku, (q, kept) in doc_lines(ev["lines"]).items():
        cls, shown = _doc_line(st, vs, ev, w, lines, sku, q, kept, ver)
        classes.append(cls)
        out.append(shown)
    put(st, vs, ev, w, existing, lines)
    st.settled = SETTLED.issuperset(classes)
    return st.decision(ev, outcome_of(classes), out)


def _first(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """The first version of an order on this vshard, nothing to compare with: the hot path (a new
    sale), so it skips the general bookkeeping (``move``, ``put``), which cost a third of a
    decision; the outcome is the same as theirs."""
    ver = ev.get("version", 0)
    raw = ev["lines"]
    wanted = {raw[0]["sku"]: (raw[0]["quantity"], raw[0].get("kept", 0))} if len(raw) == 1 else doc_lines(raw)
    out, lines = [], []
    short = False
    for sku, (q, kept) in wanted.items():
        rec = st.record(sku)
        target = q + kept
        if rec is None:
            line = {"sku": sku, "ver": ver, "q": q, "kept": kept, "accepted": 0}
            out.append(move(st, vs, ev, w, sku, line))
        else:
            available = rec.on_hand - rec.reserved
            taken = target if target <= available else max(available, 0)
            outcome = "accepted" if taken == target else "insufficient"
            shown = st.change(vs, ev, w, sku, rec, -taken, outcome)
            shown["requested"], shown["accepted"] = target, taken
            out.append(shown)
            line = {
                "sku": sku, "ver": ver, "q": q, "kept": kept,
                "accepted": taken, "requested": target, "outcome": outcome,
            }  # fmt: skip
            short = short or taken < target
        lines.append(line)
    st.put_order(vs, ev, w, {"status": "oversold" if short else "accepted", "lines": lines, "at": st.now})
    return st.decision(ev, "applied", out)


def _doc_line(
    st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, lines: dict[str, Line], sku: str,
    q: int, kept: int, ver: int,
) -> tuple[str, dict[str, Any]]:
    line = lines.get(sku)
    if line is not None and line.get("txn") and line.get("status") != "released":
        return "order_exists", view(st, sku, line, "order_exists")
    if line is None or line.get("txn"):  # a transaction released without selling: the id is free
        line = lines[sku] = {"sku": sku, "ver": ver, "q": q, "kept": kept, "accepted": 0}
        return "applied", move(st, vs, ev, w, sku, line)
    if line.get("parked"):  # its cancel came first: now we know what the line held
        line.pop("parked")
        line["q"], line["kept"] = q, kept
        if not line.get("final") and line["ver"] < ver:  # this version is newer than the cancel
            line["ver"] = ver
            line.pop("cancelled", None)
            line.pop("restock", None)
            return "applied", move(st, vs, ev, w, sku, line)
        return "cancelled", move(st, vs, ev, w, sku, line)
    if line.get("final") or line["ver"] >= ver:
        cls = "duplicate_order" if line["ver"] == ver and not line.get("final") else "stale"
        return cls, view(st, sku, line, line.get("outcome", cls))
    line.update(ver=ver, q=q, kept=kept)
    line.pop("cancelled", None)
    line.pop("restock", None)
    return "applied", move(st, vs, ev, w, sku, line)


def order_cancelled(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites) -> WireDecision:
    """Cancel the named SKUs' lines of the order on this vshard (see the module docstring)."""
    existing = st.order(vs, ev)
    if existing is GONE:
        return needs_decision(st, vs, ev, w, ev["skus"])
    lines = line_map(existing)
    out, classes = [], []
    settled = True
    for sku in dict.fromkeys(ev["skus"]):
        cls, shown = _cancel_line(st, vs, ev, w, lines, sku)
        classes.append(cls)
        out.append(shown)
        if cls not in SETTLED or (cls == "already_cancelled" and not stays_cancelled(lines[sku], ev)):
            settled = False
    put(st, vs, ev, w, existing, lines, cancelled_at=st.now)
    st.settled = settled
    return st.decision(ev, outcome_of(classes), out)


def stays_cancelled(line: Line, ev: dict[str, Any]) -> bool:
    """Whether a cancel that found ``line`` cancelled would find it so whenever it came again.

    A newer order version un-cancels a line; if that version is newer than this cancel too, the
    cancel is then ``stale``, but if it lies between the line's version and the cancel's, the
    cancel would apply. So only a cancel no newer than the line, or a line an unversioned cancel
    made final, answers alike for good.
    """
    ver = ev.get("version")
    return bool(line.get("final")) or (ver is not None and line["ver"] is not None and ver <= line["ver"])


def _cancel_line(
    st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, lines: dict[str, Line], sku: str
) -> tuple[str, dict[str, Any]]:
    ver, restock = ev.get("version"), ev.get("restock", True)
    line = lines.get(sku)
    if line is None:
        lines[sku] = {"sku": sku, "ver": ver, "accepted": 0, "parked": True, "cancelled": True}
        lines[sku].update({"restock": restock, "final": True} if ver is None else {"restock": restock})
        return "parked", view(st, sku, lines[sku], "parked")
    if line.get("txn") and line.get("status") != "accepted":
        refusal = "still_reserved" if line.get("status") == "reserved" else "not_placed"
        return refusal, view(st, sku, line, refusal)
    if line.get("parked"):
        return "parked", view(st, sku, line, "parked")
    if line.get("cancelled"):
        return "already_cancelled", view(st, sku, line, "already_cancelled")
    # At an equal version the cancel wins: a marketplace sends the cancel and the update of one
    # change with one version (Shopify's orders/cancelled and orders/updated share updated_at).
    if line.get("final") or (ver is not None and line["ver"] is not None and line["ver"] > ver):
        return "stale", view(st, sku, line, "stale")
    line["cancelled"], line["restock"] = True, restock
    if ver is None:
        line["final"] = True
    else:
        line["ver"] = ver
    return "applied", move(st, vs, ev, w, sku, line)


def needs_decision(
    st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, skus: Iterable[str]
) -> WireDecision:
    """An event for an order whose record expired: every line ``needs_decision``, nothing moves,
    one audit entry per line for the operator (see the module docstring)."""
    out = []
    for sku in dict.fromkeys(skus):
        rec = st.record(sku)
        avail, ver = (rec.available, rec.version) if rec else (None, None)
        st.audit(ev, w, sku, 0, avail, avail, ver, "needs_decision")
        out.append({"sku": sku, "outcome": "needs_decision", "delta": 0, "available": avail, "version": ver})
    return st.decision(ev, "needs_decision", out)


# -- line arithmetic ------------------------------------------------------------------------------
def doc_lines(raw: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """SKU -> (quantity, kept), summed over the order's lines, in order of first appearance."""
    out: dict[str, tuple[int, int]] = {}
    for ln in raw:
        q, k = out.get(ln["sku"], (0, 0))
        out[ln["sku"]] = (q + ln["quantity"], k + ln.get("kept", 0))
    return out


def want(line: Line) -> int:
    """Units the line should hold out of master: what it claims plus what refunds kept, unless it
    is cancelled with restocking (then only what was kept)."""
    kept = line.get("kept", 0)
    if "cancelled" in line and line["cancelled"] and line.get("restock", True):
        return kept
    return line.get("q", 0) + kept


def move(st: Staging, vs: int, ev: dict[str, Any], w: VShardWrites, sku: str, line: Line) -> dict[str, Any]:
    """Take or return units so the line holds ``want(line)``: a shortfall takes what is available
    (the channel has sold it already), never more; an excess goes back whole."""
    target, got = want(line), line["accepted"]
    rec = st.record(sku)
    if rec is None:  # nothing was ever taken from a SKU master does not know (got is 0)
        st.audit(ev, w, sku, 0, None, None, None, "unknown_sku")
        line.update(requested=target, outcome="unknown_sku")
        return {"sku": sku, "outcome": "unknown_sku", "delta": 0, "available": None, "version": None,
                "requested": target, "accepted": got}
    delta = -min(target - got, max(rec.available, 0)) if target > got else got - target
    held = got - delta
    if delta > 0:
        outcome = "returned"
    elif held < target:
        outcome = "insufficient"
    else:
        outcome = "cancelled" if line.get("cancelled") else "accepted"
    shown = st.change(vs, ev, w, sku, rec, delta, outcome)
    shown["requested"], shown["accepted"] = target, held
    line.update(requested=target, accepted=held, outcome=outcome)
    return shown


def view(st: Staging, sku: str, line: Line, outcome: str) -> dict[str, Any]:
    """A line that moved nothing: what it holds, and the SKU's current count."""
    rec = st.record(sku)
    return {
        "sku": sku,
        "outcome": outcome,
        "delta": 0,
        "available": rec.available if rec else None,
        "version": rec.version if rec else None,
        "requested": line.get("requested", 0),
        "accepted": line.get("accepted", 0),
    }


def outcome_of(classes: list[str]) -> str:
    """The event's outcome: the lines' common one, else ``mixed`` (as ``merge_parts`` does across
    vshards, so the answer does not depend on which SKUs share a vshard)."""
    first = classes[0]
    return first if all(c == first for c in classes) else "mixed"


# -- the order record ------------------------------------------------------------------------------
def line_map(existing: dict[str, Any] | None) -> dict[str, Line]:
    """Copies of a record's lines by SKU: the record may belong to a plan not yet committed."""
    if existing is None:
        return {}
    return {ln["sku"]: dict(ln) for ln in existing["lines"]}


def status_of(lines: dict[str, Line]) -> str:
    """One status for a vshard's share of an order (``actors.gateway.views`` joins the shares)."""
    states = list(lines.values())
    if all(ln.get("parked") for ln in states):
        return "parked_cancel"
    if any(ln.get("status") == "reserved" for ln in states):
        return "reserved"
    placed = [ln for ln in states if not ln.get("parked") and ln.get("status") != "released"]
    if not placed:
        return "released"
    cancelled = sum(1 for ln in placed if ln.get("cancelled"))
    if cancelled == len(placed):
        return "cancelled"
    if any(ln["accepted"] < ln.get("requested", 0) for ln in placed):
        return "oversold"
    return "partially_cancelled" if cancelled else "accepted"


def put(
    st: Staging,
    vs: int,
    ev: dict[str, Any],
    w: VShardWrites,
    existing: dict[str, Any] | None,
    lines: dict[str, Line],
    cancelled_at: float | None = None,
) -> None:
    """Stage the record when a line changed; a record of parked cancels expires with the
    idempotency window (their order may never come), every other one is kept for its channel's
    order retention window from this write on (``engine.store.order_windows``)."""
    if existing is not None and [dict(ln) for ln in existing["lines"]] == list(lines.values()):
        return
    status = status_of(lines)
    record: dict[str, Any] = {"status": status, "lines": list(lines.values())}
    record["at"] = existing["at"] if existing is not None else st.now
    if cancelled_at is not None and status in ("cancelled", "partially_cancelled"):
        record["cancelled_at"] = cancelled_at
    elif existing is not None and "cancelled_at" in existing:
        record["cancelled_at"] = existing["cancelled_at"]
    st.put_order(vs, ev, w, record, expires=status == "parked_cancel")
