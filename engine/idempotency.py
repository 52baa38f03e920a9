"""Idempotency: what makes two deliveries with one key the same event, and what is recorded of it.

One record per event key, kept for at least ``idempotency_ttl_hours`` (in time-bucketed hashes that
expire whole: ``engine.store.idem_layout``): the event's fingerprint and the decision of each of its
parts (one per virtual shard), in the compact form below. A later delivery under the key replays the
recorded parts, or is a ``conflict`` (changing nothing) if its fingerprint differs.

What is recorded. A part is recorded when it changed state (stock, an order record, the audit
trail) or when its answer could differ if decided again (a refusal that depends on stock, such as an
own-checkout reservation short of units). A part whose every line is *settled*
(``engine.order_rules.SETTLED``: ``duplicate_order``, ``stale``, ``already_cancelled``) changed
nothing and is not recorded: deciding it again gives one of those answers again, never a move,
because an order line's version only grows and a line is never removed. So a captured order body
replayed under ever new keys (Shopify's event id is an unsigned header) costs no storage at all,
whatever its size: no idempotency record, no audit entry, no order record.

What a key then promises:

- a retry of a recorded part gets the recorded answer, byte for byte;
- a retry of a settled part is decided again: ``duplicate_order`` may become ``stale`` (a newer
  version arrived in between), or ``needs_decision`` (the order's record expired in between:
  ``engine.order_rules``), and the counts it shows are the current ones; it never moves stock;
- the same key with another payload is a ``conflict`` wherever the key has a record (any recorded
  part of the event); a key all of whose parts were settled has no record, so another payload under
  it is decided on its own (and a retry of the first payload after that one was recorded is a
  ``conflict``). Neither can move stock that the signed versions do not justify.
"""

from __future__ import annotations

import hashlib
from base64 import b64decode
from binascii import b2a_base64
from typing import Any

import orjson


def fingerprint(payload: dict[str, Any]) -> str:
    """Digest of an event's wire form: two deliveries with one key and one digest are one event.

    The same key with another digest is a conflict (a sender reusing ids, or tampering). The wire
    form comes from the pydantic models (fixed field order) and ``at`` comes from the source
    payload, not the receive time, so a redelivery hashes the same; hashing the dict as it stands
    (no copy, no key sort) keeps this at about half a microsecond.
    """
    return hashlib.blake2b(orjson.dumps(payload), digest_size=12).hexdigest()


# -- the compact record ---------------------------------------------------------------------------
# A record is the fingerprint (its 12 bytes as 16 base64 characters), then one part per vshard,
# ``<vshard>:<decision>\n``. A decision is stored without what the event itself says again (its
# key, kind, channel, order id, each line's SKU): ``oB11A-1,99,2,1,1`` (an order's answer, outcome
# ``applied``; one line of shape 1, the event's SKU 0, ``accepted``, then delta, available, version,
# requested, accepted). A sale's record is ~40 bytes instead of ~330 of JSON: small enough for the
# store's bucketed hashes to keep in their compact encoding (``engine.store.idem_layout``). A
# decision this encoding does not fit is kept whole as JSON (a part starting with ``{``), so a retry
# always gets exactly what was answered.

_OUTCOMES = (
    "applied", "accepted", "insufficient", "returned", "cancelled", "set", "clamped", "adjusted",
    "rejected", "over_cap", "noted", "needs_decision", "unknown_sku", "parked", "mixed", "reserved",
    "released", "order_exists", "still_reserved", "not_placed", "unknown_order", "duplicate_order",
    "stale", "already_cancelled", "already_accepted", "already_released",
)  # fmt: skip
"""Outcomes stored as one letter (append only: stored records refer to these positions)."""
_CODE = {o: chr(65 + i) for i, o in enumerate(_OUTCOMES)}
_NAME = {c: o for o, c in _CODE.items()}
_SHAPES = (
    ("delta", "available", "version"),
    ("delta", "available", "version", "requested", "accepted"),
    ("delta", "reported", "available", "version"),
    ("delta", "requested", "accepted", "available", "version"),
)
"""A line's keys after ``sku`` and ``outcome`` (each holding an int or None), by the digit stored
(append only)."""
_SHAPE = {("sku", "outcome", *s): str(i) for i, s in enumerate(_SHAPES)}
_SALE = ("sku", "outcome", *_SHAPES[1])
"""Shape 1, a sale's line, written without the general loop."""
_NUMBERS = frozenset("0123456789-+.,eNoneinfaTrueFls")
"""What ``repr`` writes for ints, floats, None and bools (anything else, e.g. a quote, is not one)."""
_HEAD_ORDER = ("key", "kind", "outcome", "lines", "channel", "order_id")
_HEAD_PLAIN = ("key", "kind", "outcome", "lines")


def record(fp: str, parts: dict[str, str]) -> str:
    """An event's record: its fingerprint (hex, as ``fingerprint`` gives it) and its parts, vshard
    (as text) -> decision encoded against the part it answered (``encode``)."""
    head = b2a_base64(bytes.fromhex(fp), newline=False).decode()
    if len(parts) == 1:  # the common case, without a generator
        for vs, d in parts.items():
            return f"{head}{vs}:{d}\n"
    return head + "".join(f"{vs}:{d}\n" for vs, d in parts.items())


def parse(raw: str) -> tuple[str, dict[str, Any]]:
    """``record``'s inverse, parts left encoded (``decode`` one when it is replayed). A later part
    of a vshard replaces an earlier one, as the JSON record's merge did. Also reads the record
    written before this encoding, ``[fp, {vshard: decision}]`` (its parts become JSON parts)."""
    if raw[0] == "[":
        fp, whole = orjson.loads(raw)
        return fp, {vs: orjson.dumps(d).decode() for vs, d in whole.items()}
    parts: dict[str, Any] = {}
    for item in raw[16:].split("\n")[:-1]:
        vs, _, d = item.partition(":")
        parts[vs] = d
    return b64decode(raw[:16]).hex(), parts


def join(stored: str | None, value: str) -> str:
    """Two records of one event joined, as the store joins them (``commit.lua``, ``fetch.lua``):
    the parts of both if their fingerprints match; otherwise the stored one stands. A ``stored``
    record of the older JSON form is converted first."""
    if stored is None:
        return value
    if stored[0] == "[":
        stored = record(*parse(stored))
    return stored + value[16:] if stored[:16] == value[:16] else stored


def encode(d: dict[str, Any], ev: dict[str, Any]) -> str:
    """A decision without what ``ev`` restates; JSON (``{...``) if it has another form. On the hot
    path (every recorded decision), so a line's numbers are written by one ``repr`` of their list
    (``None`` stays ``None``; a value of any other kind than a number falls back to JSON)."""
    head = tuple(d)
    order = head == _HEAD_ORDER
    code = _CODE.get(d["outcome"])
    if (
        code is None
        or not (order or head == _HEAD_PLAIN)
        or d["key"] != ev.get("key")
        or d["kind"] != ev.get("kind")
        or (order and (d["channel"] != ev.get("channel") or d["order_id"] != ev.get("order_id")))
    ):
        return orjson.dumps(d).decode()
    lines, raw = d["lines"], ev.get("lines")
    if len(lines) == 1 and raw is not None and len(raw) == 1:  # a one-line sale: the hot path
        ln = lines[0]
        if tuple(ln) == _SALE and ln["sku"] == raw[0]["sku"] and ln["outcome"] in _CODE:
            a, b, c, e, f = ln["delta"], ln["available"], ln["version"], ln["requested"], ln["accepted"]
            if type(a) is int and type(b) is int and type(c) is int and type(e) is int and type(f) is int:
                return f"{'o' if order else 'p'}{code}10{_CODE[ln['outcome']]}{a},{b},{c},{e},{f}"
    skus = {sku: i for i, sku in enumerate(_skus(ev))}  # a repeated SKU: any of its positions
    out = []
    for ln in lines:
        keys = tuple(ln)
        at = skus.get(ln["sku"])
        oc = _CODE.get(ln["outcome"])
        if keys == _SALE and at is not None and oc is not None:
            a, b, c, e, f = ln["delta"], ln["available"], ln["version"], ln["requested"], ln["accepted"]
            if type(a) is int and type(b) is int and type(c) is int and type(e) is int and type(f) is int:
                out.append(f"1{at}{oc}{a},{b},{c},{e},{f}")
                continue
        shape = _SHAPE.get(keys)
        numbers = repr(list(ln.values())[2:])[1:-1].replace(" ", "")
        if shape is None or at is None or oc is None or not _NUMBERS.issuperset(numbers):
            return orjson.dumps(d).decode()
        out.append(f"{shape}{at}{oc}{numbers}")
    return f"{'o' if order else 'p'}{code}{';'.join(out)}"


def decode(part: str, ev: dict[str, Any]) -> dict[str, Any]:
    """``encode``'s inverse: the decision exactly as it was answered (keys in the same order)."""
    if part[0] == "{":
        whole: dict[str, Any] = orjson.loads(part)
        return whole
    skus = _skus(ev)
    lines = []
    for text in part[2:].split(";") if len(part) > 2 else ():
        shape = _SHAPES[int(text[0])]
        j = 1
        while text[j].isdigit():
            j += 1
        ln: dict[str, Any] = {"sku": skus[int(text[1:j])], "outcome": _NAME[text[j]]}
        for k, v in zip(shape, text[j + 1 :].split(","), strict=True):
            ln[k] = _number(v)
        lines.append(ln)
    d: dict[str, Any] = {"key": ev["key"], "kind": ev["kind"], "outcome": _NAME[part[1]], "lines": lines}
    if part[0] == "o":
        d["channel"], d["order_id"] = ev["channel"], ev["order_id"]
    return d


def _number(text: str) -> Any:
    """One value ``repr`` wrote: int, None, bool or float, as it was."""
    if text.lstrip("-").isdigit():
        return int(text)
    return _WORDS[text] if text in _WORDS else float(text)


_WORDS = {"None": None, "True": True, "False": False}


def outcome(part: str) -> str:
    """An encoded decision's outcome, without the event it answered."""
    if part[0] == "{":
        return str(orjson.loads(part)["outcome"])
    return _NAME[part[1]]


def _skus(ev: dict[str, Any]) -> list[str]:
    """The event's SKUs in its order, repeats kept: a line names its SKU by a position here."""
    if "lines" in ev:
        return [ln["sku"] for ln in ev["lines"]]
    if "skus" in ev:
        return list(ev["skus"])
    return [ev["sku"]] if "sku" in ev else []
