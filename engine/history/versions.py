"""Order documents with every version, built from the audit entries the archiver drains.

A version is one event that decided lines of the order (placed, updated, cancelled, and the two
steps of the seller's own orders): the entries carrying its key. An event's lines on several
vshards are in several streams, so they reach the archiver in different batches; each batch
upserts the lines it has into the version's row, a jsonb object keyed by SKU merged with ``||``,
and the row's position is the oldest of its entries' (``LEAST``). Both merges give the same row
whatever order, and however often, batches land: a re-sent batch changes nothing.

What a version's line holds, and where it comes from: ``delta`` (units the event moved: negative
taken from master, positive given back), ``outcome``, ``available`` after it, the SKU's
``sku_version``: all in the entry. ``accepted`` (units the line holds after the version) is the
sum of the line's deltas up to it, reckoned when read (``documents``). ``requested`` is known only
where the outcome says the line holds what it asked for (``accepted``, ``returned``,
``cancelled``: requested = accepted; ``reserved``: the units held; ``released``: 0); a line left
short (``insufficient``), of an unknown SKU or of an expired record (``needs_decision``) does not
say how much it asked for, and shows ``requested: null``. Units a refund kept are not in the entry
either. A version's ``status`` is reckoned like the live one (``engine.order_rules.status_of``)
from every line's state after it.

An order whose first versions were trimmed from Redis before history was configured starts from
its oldest archived version: its ``accepted`` counts only what the archived versions moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from engine.history.streams import INVALID_VSHARD, Entry

UPSERT_VERSION = """
INSERT INTO order_versions AS v (channel, order_id, key, ms, seq, vshard, at, kind, lines)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (channel, order_id, key) DO UPDATE SET
    lines = v.lines || excluded.lines,
    at = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) < (v.ms, v.seq, v.vshard)
              THEN excluded.at ELSE v.at END,
    ms = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) < (v.ms, v.seq, v.vshard)
              THEN excluded.ms ELSE v.ms END,
    seq = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) < (v.ms, v.seq, v.vshard)
               THEN excluded.seq ELSE v.seq END,
    vshard = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) < (v.ms, v.seq, v.vshard)
                  THEN excluded.vshard ELSE v.vshard END
"""
# ``at`` before ``ms``: every right-hand side reads the row as it was, so the order of the SET list
# does not matter; it is kept so anyway, for the reader.
SELECT_VERSIONS = """
SELECT channel, order_id, key, ms, seq, vshard, at, kind, lines FROM order_versions
WHERE (channel, order_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""
HOLDS_ASKED = frozenset({"accepted", "returned", "cancelled"})
CANCELS = frozenset({"order_cancelled"})
Row = tuple[str, str, str, int, int, int, float | None, str | None, dict[str, Any]]
"""``(channel, order_id, key, ms, seq, vshard, at, kind, lines)``: a version as stored."""


def _line(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "delta": d.get("delta"),
        "outcome": d.get("outcome"),
        "before": d.get("before"),
        "available": d.get("after"),
        "sku_version": d.get("version"),
    }


def version_rows(entries: Iterable[Entry]) -> list[Row]:
    """The versions the entries give, one row per (channel, order id, event key), sorted by that
    key (concurrent writers lock rows in one order). Entries without an order, SKU or key, and the
    refused lines' stream, make none (as ``engine.history.archive.order_rows``)."""
    rows: dict[tuple[str, str, str], list[Any]] = {}
    for e in sorted(entries, key=lambda e: e.position):
        d = e.doc
        ch, oid, sku, key = d.get("channel"), d.get("order_id"), d.get("sku"), d.get("key")
        if e.vshard == INVALID_VSHARD or not (
            isinstance(ch, str) and isinstance(oid, str) and isinstance(sku, str) and isinstance(key, str)
        ):
            continue
        at = d.get("at")
        at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None
        row = rows.setdefault((ch, oid, key), [ch, oid, key, e.ms, e.seq, e.vshard, at, d.get("kind"), {}])
        row[8][sku] = _line(d)
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for _, r in sorted(rows.items())]


def db_rows(rows: list[Row]) -> list[tuple[Any, ...]]:
    """``version_rows`` as ``UPSERT_VERSION`` parameters."""
    return [(*r[:8], Jsonb(r[8], dumps=lambda v: orjson.dumps(v).decode())) for r in rows]


def merge(rows: Iterable[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows of several sources (PostgreSQL, the Redis tail) merged as the upsert merges them, per
    order, oldest version first."""
    by_key: dict[tuple[str, str, str], Row] = {}
    for r in rows:
        old = by_key.get(r[:3])
        if old is None:
            by_key[r[:3]] = r
            continue
        first = r if r[3:6] < old[3:6] else old
        by_key[r[:3]] = (*first[:8], {**old[8], **r[8]})
    out: dict[tuple[str, str], list[Row]] = {}
    for r in sorted(by_key.values(), key=lambda r: (r[3], r[4], r[5])):
        out.setdefault((r[0], r[1]), []).append(r)
    return out


def documents(rows: list[Row]) -> list[dict[str, Any]]:
    """One order's versions, oldest first, as ``GET /v1/orders`` shows them (see the module
    docstring for what each line's numbers come from)."""
    state: dict[str, dict[str, Any]] = {}
    out = []
    for n, (_, _, key, ms, seq, _, at, kind, lines) in enumerate(rows, start=1):
        shown = []
        for sku, ln in sorted(lines.items()):  # one order whatever order the batches came in
            st = state.setdefault(sku, {"sku": sku, "accepted": 0, "requested": None, "outcome": None})
            _apply(st, kind, ln)
            shown.append(
                {"sku": sku, "requested": st["requested"], "accepted": st["accepted"],
                 "outcome": ln.get("outcome"), "delta": ln.get("delta"), "available": ln.get("available")}
            )  # fmt: skip
        out.append(
            {
                "number": n,
                "event_id": key,
                "kind": kind,
                "time": at,
                "id": f"{ms}-{seq}",
                "status": status(state.values()),
                "lines": shown,
            }
        )
    return out


def _apply(st: dict[str, Any], kind: str | None, ln: dict[str, Any]) -> None:
    """One version's line on the line's state (``documents``)."""
    delta, outcome = ln.get("delta"), ln.get("outcome")
    if outcome == "needs_decision":  # the record had expired: nothing moved, the state stands
        return
    if isinstance(delta, int):
        st["accepted"] -= delta
    st["outcome"] = outcome
    st["cancelled"] = kind in CANCELS
    before, after = ln.get("before"), ln.get("available")
    if outcome in HOLDS_ASKED:
        st["requested"] = st["accepted"]
    elif outcome == "reserved" and isinstance(before, int) and isinstance(after, int):
        st["requested"] = before - after
    elif outcome == "released":
        st["requested"] = 0
    else:
        st["requested"] = None


def status(lines: Iterable[dict[str, Any]]) -> str | None:
    """The order's status from its lines' states, as the live records give it
    (``engine.order_rules.status_of`` joined by ``actors.gateway.views.order_status``); None when
    no line was ever held (a seller's order released, or nothing known)."""
    placed = [ln for ln in lines if ln["outcome"] not in (None, "released")]
    if not placed:
        return None
    if all(ln["outcome"] == "reserved" for ln in placed):
        return "reserved"
    cancelled = sum(1 for ln in placed if ln.get("cancelled"))
    if cancelled == len(placed):
        return "cancelled"
    if cancelled:
        return "partially_cancelled"
    if any(ln["outcome"] in ("insufficient", "unknown_sku") for ln in placed):
        return "oversold"
    return "accepted"


def view(
    channel: str, order_id: str, docs: list[dict[str, Any]], updated_at: float | None
) -> dict[str, Any] | None:
    """An order's view from its versions alone (its Redis records expired): the shape of
    ``actors.gateway.views.order_view``, lines as the last version left them."""
    if not docs or docs[-1]["status"] is None:
        return None
    lines: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for ln in doc["lines"]:
            lines[ln["sku"]] = {k: ln[k] for k in ("sku", "requested", "accepted", "outcome")}
    lines = {sku: ln for sku, ln in lines.items() if ln["outcome"] != "released"}  # as the records show
    last = docs[-1]
    cancels = [d["time"] for d in docs if d["kind"] in CANCELS and d["time"] is not None]
    cancelled = last["status"] in ("cancelled", "partially_cancelled")
    return {
        "channel": channel,
        "order_id": order_id,
        "status": last["status"],
        "lines": list(lines.values()),
        "placed_at": docs[0]["time"],
        "cancelled_at": max(cancels) if cancels and cancelled else None,
        "updated_at": updated_at if updated_at is not None else last["time"],
    }


def choose(live: dict[str, Any] | None, from_versions: dict[str, Any] | None) -> dict[str, Any] | None:
    """The view to show: the records' (they know what each line asked for and what refunds kept)
    while they hold every SKU the versions know; else the versions'. Each vshard's record has its
    own window from its own last change, so a line cancelled late outlives the order's other
    lines, and the records alone would show the order as all cancelled."""
    if live is None or from_versions is None:
        return live or from_versions
    known = {ln["sku"] for ln in live["lines"]}
    return live if all(ln["sku"] in known for ln in from_versions["lines"]) else from_versions
