"""An audit entry in a vshard's Redis stream: one per decided line, in a compact form.

The first form was one stream field ``d`` holding a JSON document (``key``, ``kind``, ``channel``,
``order_id``, ``sku``, ``delta``, ``before``, ``after``, ``version``, ``outcome``, ``at``): ~260
bytes of text, field names included, in every entry (~300 bytes of Redis a line). Now each value
is a stream field of its own, under a one-letter name, with ``v`` = ``2`` first: a stream stores
the field names once for a run of entries that have the same fields, and an integer (a count, a
delta, a version, a numeric order id, the time in microseconds) as an integer; a known kind and
outcome are one letter. A Shopify sale's entry is ~160 bytes, most of it the event key. A field
whose value is None (a stock event has no channel or order) is left out.

Every reader goes through ``decode``, which gives the same document for either form, so entries
written before this form (in Redis, and as archived rows) read as they did.
"""

from __future__ import annotations

from typing import Any

import orjson

VERSION = b"2"
FIELDS = (
    ("key", b"k"), ("kind", b"t"), ("channel", b"c"), ("order_id", b"o"), ("sku", b"s"), ("delta", b"n"),
    ("before", b"b"), ("after", b"a"), ("version", b"r"), ("outcome", b"x"), ("at", b"w"),
)  # fmt: skip
# ``at`` is field ``u`` instead when written as microseconds (``at_value``).
"""Document field -> stream field, in the document's order: the order of an entry's values as the
ledger stages them (``engine.rules.Staging.audit``: a list, None where a field is empty) and as
``commit.lua`` writes them (its ``AUDIT`` table)."""
_COUNTS = frozenset(("delta", "before", "after", "version"))
KINDS = (
    "order_placed", "order_updated", "order_cancelled", "stock_set", "stock_adjusted",
    "channel_quantity_reported", "order_reserve", "order_commit", "order_release",
)  # fmt: skip
OUTCOMES = (
    "accepted", "insufficient", "returned", "cancelled", "set", "clamped", "adjusted", "rejected",
    "over_cap", "noted", "needs_decision", "unknown_sku", "reserved", "released",
)  # fmt: skip
"""Kinds and outcomes written as one capital letter (append only: stored entries name these
positions); any other is written as it is (they are lowercase words)."""
KIND = {k: chr(65 + i) for i, k in enumerate(KINDS)}
OUTCOME = {o: chr(65 + i) for i, o in enumerate(OUTCOMES)}
_WORDS = {b"t": {c.encode(): k for k, c in KIND.items()}, b"x": {c.encode(): o for o, c in OUTCOME.items()}}


def at_value(now: float) -> int | str:
    """How a batch's decision time is written: whole microseconds (an integer, ~9 bytes in a stream)
    when they give back exactly this float, otherwise its ``repr`` (text, ~19 bytes)."""
    if type(now) is float:
        us = round(now * 1e6)
        if us / 1e6 == now and abs(us) < 2**53:  # a JSON number Lua holds exactly
            return us
    return repr(now)


def decode(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    """The entry as a document, of either form (the first form: field ``d``, JSON); None if it is
    neither (the caller decides what an unreadable entry becomes)."""
    if fields.get(b"v") != VERSION:
        try:
            value = orjson.loads(fields.get(b"d", b""))
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    doc: dict[str, Any] = {}
    try:
        for name, short in FIELDS:
            raw = fields.get(short)
            if raw is None:
                doc[name] = None if name != "at" or b"u" not in fields else int(fields[b"u"]) / 1e6
            elif name in _COUNTS or (name == "at" and raw.lstrip(b"-").isdigit()):  # an int clock stays int
                doc[name] = int(raw)
            elif name == "at":
                doc[name] = float(raw)
            elif short in _WORDS and raw in _WORDS[short]:
                doc[name] = _WORDS[short][raw]
            else:
                doc[name] = raw.decode()
    except ValueError:  # not written by commit.lua
        return None
    return doc


def staged(entry: list[Any]) -> dict[str, Any]:
    """The document of an entry as the ledger staged it (what ``decode`` reads once it is stored)."""
    doc = {name: value for (name, _), value in zip(FIELDS, entry, strict=True)}
    kinds, outcomes = _WORDS[b"t"], _WORDS[b"x"]
    doc["kind"] = kinds.get(doc["kind"].encode(), doc["kind"])
    doc["outcome"] = outcomes.get(doc["outcome"].encode(), doc["outcome"])
    at = doc["at"]
    if isinstance(at, int):
        doc["at"] = at / 1e6
    else:
        doc["at"] = int(at) if at.lstrip("-").isdigit() else float(at)
    return doc


def raw_text(fields: dict[bytes, bytes]) -> str:
    """An entry ``decode`` could not read, as text to keep (the archiver stores it as it found it)."""
    if b"d" in fields:
        return fields[b"d"].decode(errors="replace")
    return " ".join(f"{k.decode(errors='replace')}={v.decode(errors='replace')}" for k, v in fields.items())
