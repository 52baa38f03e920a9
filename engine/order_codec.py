"""The stored form of an order record: a positional JSON array, ~45 bytes for a single-line sale.

The rules work on a dict (``engine.order_rules``: ``{"status", "lines": [line, ...], "at",
"cancelled_at"?}``); written as that dict's JSON a single-line sale took ~150 bytes, and with a key
of its own ~276 bytes of Redis. Stored this way it is one value of a listpack-encoded hash
(``engine.store.order_records``), under Redis's ``hash-max-listpack-value`` of 64 bytes for a
single-line order whose SKU has up to ~15 characters. ``decode(encode(r)) == r`` for every record
the rules write (``tests/unit/test_order_codec.py`` checks it over generated records), so the rules
never see this form.

Record: ``[at, [line, ...], status, cancelled_at, extra]``, trailing defaults left out:
- ``status`` is null when it is what ``status_of(lines)`` derives (almost always); otherwise it is
  stored, as a code of ``STATUSES`` or as text (a first sale's line of an unknown SKU is
  ``accepted`` while ``status_of`` would say ``oversold``, so it cannot simply be dropped);
- times are whole microseconds (an integer) when that gives back the float exactly
  (``engine.audit_entries.at_value``), any other value wrapped in a one-element array;
- ``extra``: keys the format does not name, as a dict (so a field added to the rules later is
  kept, at the old price).
Line: ``[sku, ver, q, kept, accepted, requested, outcome, flags, two_phase, extra]``; an absent key
is ``false``; ``outcome`` a code of ``OUTCOMES`` or text; ``flags`` two bits (present, value) for
each of ``FLAGS``; ``two_phase`` ``[txn, status, held]`` of the seller's own orders
(``engine.two_phase_rules``) or 0. A value the format cannot hold in its place (a boolean where a
number is expected) goes to ``extra``.

Records of the earlier form (a JSON object) decode as they are: an upgrade reads them until they
expire (``engine.store.order_records``).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.order_rules import status_of

STATUSES = (
    "accepted", "oversold", "partially_cancelled", "cancelled", "reserved", "released", "parked_cancel",
)  # fmt: skip
OUTCOMES = ("accepted", "insufficient", "returned", "cancelled", "unknown_sku", "reserved", "released")
FLAGS = ("cancelled", "restock", "final", "parked")
_NUMBERS = ("ver", "q", "kept", "accepted", "requested")
_KNOWN_LINE = frozenset(("sku", *_NUMBERS, "outcome", *FLAGS, "txn", "status", "held"))
_KNOWN_RECORD = _KNOWN = frozenset(("at", "lines", "status", "cancelled_at"))
_SALE = frozenset(("status", "lines", "at"))
_COMMON = frozenset(("sku", "ver", "q", "kept", "accepted", "requested", "outcome"))
_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
_OUTCOME_CODE = {s: i for i, s in enumerate(OUTCOMES)}
_MISSING: Any = object()
_dumps, _loads = orjson.dumps, orjson.loads


def encode(record: dict[str, Any]) -> str:
    """The stored form of ``record`` (text: the store's scripts carry it inside JSON)."""
    if record.keys() == _SALE and len(record["lines"]) == 1:  # a new sale of one line: the hot path
        at, ln = record["at"], record["lines"][0]
        a = _common_line(ln) if type(at) is float and 0.0 < at < 9e9 else None
        if a is not None:
            us = round(at * 1e6)
            if us / 1e6 == at and record["status"] == ("oversold" if a[4] < a[5] else "accepted"):
                return _dumps([us, [a]]).decode()
    return _encode(record)


def _encode(record: dict[str, Any]) -> str:
    lines = record["lines"]
    packed, common, short = [], True, False
    for ln in lines:
        a = _common_line(ln)
        if a is None:
            common = False
            a = _line(ln)
        else:
            short = short or ln["accepted"] < ln["requested"]
        packed.append(a)
    out: list[Any] = [_time(record.get("at", _MISSING)), packed]
    status = record.get("status", _MISSING)
    # lines of the common shape derive "oversold" or "accepted" (``status_of``), cheaper said here
    derived = status == ("oversold" if short else "accepted") if common else status == _derived(lines)
    extra = {} if record.keys() <= _KNOWN_RECORD else {k: v for k, v in record.items() if k not in _KNOWN}
    out.append(None if derived and status is not _MISSING else _coded(record, "status", _STATUS_CODE, extra))
    out.append(_time(record.get("cancelled_at", _MISSING)))
    if extra:
        out.append(extra)
    else:
        while len(out) > 2 and out[-1] is (None if len(out) == 3 else False):
            out.pop()
    return _dumps(out).decode()


def _common_line(ln: dict[str, Any]) -> list[Any] | None:
    """The packed form of a line of a placed order nothing has cancelled (most lines), or None:
    the hot path, so the general ``_line`` is skipped."""
    if ln.keys() != _COMMON:
        return None
    sku, ver, q, kept, accepted, requested, outcome = (
        ln["sku"], ln["ver"], ln["q"], ln["kept"], ln["accepted"], ln["requested"], ln["outcome"]
    )  # fmt: skip
    code = _OUTCOME_CODE.get(outcome) if type(outcome) is str else None
    if code is None or not (type(q) is type(kept) is type(accepted) is type(requested) is int):
        return None
    if ver is not None and type(ver) is not int:
        return None
    out = [sku, ver, q, kept, accepted, requested]
    if code:
        out.append(code)
    return out


def decode(raw: str | bytes) -> dict[str, Any]:
    """The record as the rules use it, from either stored form."""
    value = _loads(raw)
    if isinstance(value, dict):  # the form before this one
        return value
    n = len(value)
    lines = [_unline(a) for a in value[1]]
    status = value[2] if n > 2 else None
    record: dict[str, Any] = {
        "status": status_of({ln["sku"]: ln for ln in lines}) if status is None else _uncode(status, STATUSES),
        "lines": lines,
    }
    if value[0] is not False:
        record["at"] = _untime(value[0])
    if n > 3 and value[3] is not False:
        record["cancelled_at"] = _untime(value[3])
    if status is False:  # a record without a status (none is written so, but say it as it was)
        del record["status"]
    if n > 4:
        record.update(value[4])
    return record


def _derived(lines: list[dict[str, Any]]) -> str | None:
    try:
        return status_of({ln["sku"]: ln for ln in lines})
    except (KeyError, TypeError):  # a line the rules would not write: the status is then stored
        return None


def _line(ln: dict[str, Any]) -> list[Any]:
    extra: dict[str, Any] = {k: v for k, v in ln.items() if k not in _KNOWN_LINE}
    out: list[Any] = [ln["sku"]]
    for key in _NUMBERS:
        out.append(_plain(ln, key, extra))
    out.append(_coded(ln, "outcome", _OUTCOME_CODE, extra))
    flags = 0
    for i, key in enumerate(FLAGS):
        v = ln.get(key, _MISSING)
        if v is True or v is False:
            flags |= (1 | v << 1) << (2 * i)
        elif v is not _MISSING:
            extra[key] = v
    out.append(flags)
    if "txn" in ln or "status" in ln or "held" in ln:
        status = _coded(ln, "status", _OUTCOME_CODE, extra)
        two = [_plain(ln, "txn", extra), status, _plain(ln, "held", extra)]
        out.append(0 if all(x is False for x in two) else two)
    if extra:
        if len(out) == 8:
            out.append(0)
        out.append(extra)
    while len(out) > 6 and out[-1] == 0 and type(out[-1]) is int:
        out.pop()
    return out


def _plain(d: dict[str, Any], key: str, extra: dict[str, Any]) -> Any:
    """The value in its place, or ``false`` when absent (a boolean goes to ``extra``)."""
    v = d.get(key, _MISSING)
    if v is _MISSING:
        return False
    if v is True or v is False:
        extra[key] = v
        return False
    return v


def _coded(d: dict[str, Any], key: str, codes: dict[str, int], extra: dict[str, Any]) -> Any:
    """A code for a known name, other text as it is, ``false`` when absent; not text: ``extra``."""
    v = d.get(key, _MISSING)
    if v is _MISSING:
        return False
    if type(v) is not str:
        extra[key] = v
        return False
    return codes.get(v, v)


def _unline(a: list[Any]) -> dict[str, Any]:
    ln: dict[str, Any] = {"sku": a[0]}
    for key, v in zip(_NUMBERS, a[1:6], strict=True):
        if v is not False:
            ln[key] = v
    n = len(a)
    outcome = a[6] if n > 6 else 0
    if outcome is not False:
        ln["outcome"] = _uncode(outcome, OUTCOMES)
    flags = a[7] if n > 7 else 0
    for i, key in enumerate(FLAGS):
        bits = flags >> (2 * i)
        if bits & 1:
            ln[key] = bool(bits & 2)
    if n > 8 and a[8]:
        txn, st, held = a[8]
        if txn is not False:
            ln["txn"] = txn
        if st is not False:
            ln["status"] = _uncode(st, OUTCOMES)
        if held is not False:
            ln["held"] = held
    if n > 9:
        ln.update(a[9])
    return ln


def _uncode(value: Any, names: tuple[str, ...]) -> Any:
    return names[value] if type(value) is int else value


def _time(t: Any) -> Any:
    """Whole microseconds when they give back the float exactly, else the value in an array."""
    if t is _MISSING:
        return False
    if type(t) is float and 0.0 < t < 9e9:  # a time, and whole microseconds held exactly
        us = round(t * 1e6)
        if us / 1e6 == t:
            return us
    return [t]


def _untime(v: Any) -> Any:
    return v[0] if isinstance(v, list) else v / 1e6
