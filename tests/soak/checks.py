"""The soak's end checks: the fault suite's invariants over the whole audit trail, per webhook.

Each check returns a list of faults (empty when it holds), at most ``SHOWN`` of them shown, so a
failing run reports what broke rather than stopping at the first assertion.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import redis

from engine import audit_entries
from engine.records import SkuRecord
from engine.store import Keys
from tests.fault.audit_chain import chain_faults
from tests.soak.diagnose import diagnose
from tests.soak.stack import SoakStack

SHOWN = 10


def read_trail(
    r: redis.Redis, keys: Keys, vshards: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]]]:
    """Every vshard's audit entries (stream order within a vshard; SKUs never span vshards) and
    each SKU's ``(available, version)`` in Redis."""
    entries: list[dict[str, Any]] = []
    current: dict[str, tuple[int, int]] = {}
    for vs in range(vshards):
        for _, fields in r.xrange(keys.audit(vs)) or []:
            assert fields is not None
            entries.append(audit_entries.decode(fields))
        stock: Any = r.hgetall(keys.stock(vs))
        for sku, raw in stock.items():
            rec = SkuRecord.decode(raw)
            current[sku.decode()] = (rec.available, rec.version)
    return entries, current


def check_all(stack: SoakStack, r: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every invariant, by name: ``{"ok": bool, "faults": [...], ...figures}``."""
    assert stack.config is not None
    keys, vshards = Keys(stack.config.store.key_prefix), stack.config.engine.vshards
    entries, current = read_trail(r, keys, vshards)
    placed: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e["kind"] == "order_placed":
            placed[(str(e["channel"]), str(e["order_id"]), e["sku"])].append(e)
    out = {
        "every_sale_answered_200": _answered(stack),
        "answered_sale_decided_once": _decided_once(stack, placed),
        "none_counted_twice": _once(placed),
        "audit_chain_every_prefix": _result(chain_faults(entries, current), entries=len(entries)),
        "conservation": _conservation(stack, entries, current),
        "dead_letters_have_a_cause": _dead_letters(r, keys),
    }
    return out


def _result(faults: list[str], **figures: Any) -> dict[str, Any]:
    return {"ok": not faults, "faults": faults[:SHOWN], "fault_count": len(faults), **figures}


def _orders(stack: SoakStack) -> list[tuple[str, Any]]:
    out = []
    for cid, account in stack.accounts.items():
        with account.store.lock:
            out += [(cid, o) for o in account.store.orders]
    return out


def _answered(stack: SoakStack) -> dict[str, Any]:
    """After the marketplaces' retries, every sale's webhook got a 200 (none left undelivered)."""
    orders = _orders(stack)
    faults = [f"{cid} order {o.order_id}: {o.status} {o.error[:80]}" for cid, o in orders if not o.delivered]
    return _result(faults, sales=len(orders))


def _decided_once(
    stack: SoakStack, placed: dict[tuple[str, str, str], list[dict[str, Any]]]
) -> dict[str, Any]:
    """Each 200 carries a decision, and the trail holds one order entry per line granting what it said."""
    faults = []
    for cid, o in _orders(stack):
        if not o.delivered:
            continue
        if not o.decision or not o.decision.get("lines"):
            faults.append(f"{cid} order {o.order_id}: 200 without a decision")
            continue
        for line in o.decision["lines"]:
            trail = placed.get((cid, str(o.decision.get("order_id")), line["sku"]), [])
            granted = sum(e["before"] - e["after"] for e in trail if e.get("before") is not None)
            if len(trail) != 1 or granted != line["accepted"]:
                faults.append(
                    f"{cid} order {o.order_id} {line['sku']}: {len(trail)} entries, granted "
                    f"{granted}, answered {line['accepted']}"
                )
    return _result(faults)


def _once(placed: dict[tuple[str, str, str], list[dict[str, Any]]]) -> dict[str, Any]:
    faults = [f"{k}: {len(v)} order entries" for k, v in placed.items() if len(v) > 1]
    return _result(faults, orders_in_trail=len(placed))


def _conservation(
    stack: SoakStack, entries: list[dict[str, Any]], current: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """Per SKU: initial stock minus the units granted equals what Redis and the shards hold, and
    what the shoppers were told was granted adds up to the same."""
    granted: Counter[str] = Counter()
    for e in entries:
        if e["kind"] == "order_placed" and e.get("before") is not None:
            granted[e["sku"]] += e["before"] - e["after"]
    told: Counter[str] = Counter()
    for _, o in _orders(stack):
        for line in (o.decision or {}).get("lines", []):
            told[line["sku"]] += line["accepted"]
    master = stack.master()
    faults = []
    for sku, initial in stack.initial.items():
        held = current.get(sku, (None, None))[0]
        if not (held == master[sku] == initial - granted[sku] >= 0) or told[sku] != granted[sku]:
            faults.append(
                f"{sku}: initial {initial}, granted {granted[sku]} (told {told[sku]}), "
                f"Redis {held}, shard {master[sku]}"
            )
    sold_by_stores = sum(q for _, o in _orders(stack) for _, q in o.lines)
    return _result(faults, units_granted=sum(granted.values()), units_sold_by_stores=sold_by_stores)


def _dead_letters(r: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Every dead letter says why: the error, and the answer or failure that caused it."""
    faults, count = [], 0
    rows: Any = r.xrange(keys.dlq()) or []
    for entry_id, f in rows:
        count += 1
        if not f.get(b"error", b"").strip():
            faults.append(
                f"{entry_id.decode()} ({f.get(b'channel', b'?').decode()} "
                f"{f.get(b'sku', b'?').decode()}): no error recorded"
            )
    return _result(faults, dead_letters=count)


def check_converged(stack: SoakStack, r: redis.Redis, timeout_s: float) -> dict[str, Any]:
    """Every channel lists what master allows once the channel actors settled (idle for 10 s with
    the same differences counts as settled: nothing more moves by itself)."""
    diverged = stack.settle(timeout_s=timeout_s, stable_s=10.0)
    faults = [f"{cid}: {len(d)} SKUs differ, e.g. {sorted(d.items())[:3]}" for cid, d in diverged.items()]
    if not diverged:
        return _result(faults)
    return _result(faults, diagnosis=diagnose(stack, r, diverged))
