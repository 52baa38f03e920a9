"""What a channel that did not converge knew, per diverged SKU: enough to tell a lost push from a
sale the channel mistook for its own, without the run's Redis and simulators (gone by then)."""

from __future__ import annotations

from typing import Any

import ray
import redis

from engine import audit_entries
from engine.routing import ShardMap
from engine.store import Keys
from tests.soak.stack import SoakStack

SKUS_SHOWN = 3
TAIL = 8


def diagnose(
    stack: SoakStack, r: redis.Redis, diverged: dict[str, dict[str, tuple[int, int]]]
) -> dict[str, Any]:
    """Per channel: its actor's counters, and for a few diverged SKUs the trail's last entries, the
    store's last pushes received and sales, the actor's view of the SKU and master's record."""
    assert stack.config is not None and stack.shards is not None
    keys = Keys(stack.config.store.key_prefix)
    smap = ShardMap(stack.config.engine.shards, stack.config.engine.vshards)
    out: dict[str, Any] = {}
    for cid, skus in diverged.items():
        shown = sorted(skus)[:SKUS_SHOWN]
        handle = stack.channels[cid]
        status = ray.get(handle.status.remote(shown), timeout=30)
        store = stack.accounts[cid].store
        per_sku: dict[str, Any] = {}
        master = stack.shards.get_many(shown)
        for sku in shown:
            with store.lock:
                pushes = [(round(t, 3), q) for t, s, q in store.received if s == sku][-TAIL:]
                sales = [
                    {"order_id": o.order_id, "t": round(o.t, 3), "status": o.status, "decision": o.decision}
                    for o in store.orders
                    if any(s == sku for s, _ in o.lines)
                ][-TAIL:]
            rows: Any = r.xrange(keys.audit(smap.vshard(sku))) or []
            trail = [e for e in (audit_entries.decode(f) for _, f in rows) if e and e["sku"] == sku][-TAIL:]
            per_sku[sku] = {
                "listed_vs_expected": skus[sku],
                "channel_view": status.get(sku),
                "master": master.get(sku),
                "pushes_received": pushes,
                "sales_on_this_channel": sales,
                "audit_tail": trail,
            }
        folds = ray.get(handle.fold_log.remote(shown), timeout=30)
        out[cid] = {"stats": ray.get(handle.stats.remote(), timeout=30), "skus": per_sku, "folds": folds}
    return out
