"""The audit trail of every SKU must be one unbroken chain ending at its count in Redis.

A pure check (no Redis, no Ray), so its own unit test (``tests/unit/test_audit_chain.py``) can show
it fails on a broken chain; ``tests.fault.invariants`` feeds it the audit streams after a fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

State = tuple[int, int]
"""``(available, version)`` of one SKU; a SKU with no record yet is ``(0, 0)``."""


def chain_faults(entries: Iterable[Mapping[str, Any]], current: Mapping[str, State]) -> list[str]:
    """What breaks the per-SKU chains of ``entries`` (audit entries in stream order); empty if none.

    ``current``: SKU -> ``(available, version)`` as Redis holds it now. Per SKU, starting from no
    record ``(0, 0)`` (so the stream must be untrimmed): an entry whose version is one above the
    previous one is a change and starts at the previous ``after``; an entry at the same version
    changes nothing (a refusal, a cancel that moved nothing, an order granted 0 units) and has
    ``before == after ==`` the previous ``after``; any other version is a break. ``after`` is
    never negative. An entry without a version (``unknown_sku``, a refused adjustment of a SKU
    with no record) is allowed only before the SKU's first change. The chain ends at ``current``,
    and a SKU in ``current`` without any entry is a fault too (its changes left no trail).
    """
    state: dict[str, State] = {}
    faults: list[str] = []
    for n, e in enumerate(entries):
        sku = e["sku"]
        avail, version = state.get(sku, (0, 0))
        where = f"{sku} entry {n} ({e.get('kind')} {e.get('key')} {e.get('outcome')})"
        before, after, v = e.get("before"), e.get("after"), e.get("version")
        if v is None:
            if version != 0 or before is not None or after is not None:
                faults.append(f"{where}: no version, but the SKU has a record at v{version}")
            continue
        if v == version + 1:
            if before != avail:
                faults.append(f"{where}: change v{v} starts at {before}, the chain was at {avail}")
        elif v == version:
            if not before == after == avail:
                faults.append(f"{where}: no-change entry at v{v} has {before}->{after}, chain at {avail}")
        else:
            faults.append(f"{where}: version v{v} after v{version} (must stay or rise by 1)")
        if after is None or after < 0:
            faults.append(f"{where}: available {after} after it")
        state[sku] = (avail if after is None else after, v)
    for sku in sorted(set(state) | set(current)):
        if sku not in state:
            faults.append(f"{sku}: at {current[sku]} in Redis but has no audit entry")
        elif state[sku] != current.get(sku, (0, 0)):
            faults.append(f"{sku}: chain ends at {state[sku]}, Redis holds {current.get(sku)}")
    return faults
