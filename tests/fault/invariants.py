"""What every fault test checks after the fault: nothing acknowledged lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis

from actors.shard_client import ShardClient
from engine import audit_entries, idempotency
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.store import Keys, idem_layout
from tests.fault.audit_chain import chain_faults

BATCH = 40


def order(n: int, sku: str) -> dict[str, Any]:
    """Order ``n`` for one unit of ``sku`` (key ``e<n>``, order id ``<n>``)."""
    return {
        "kind": "order_placed",
        "key": f"e{n}",
        "channel": "c",
        "order_id": f"{n}",
        "lines": [{"sku": sku, "quantity": 1}],
    }


def stream_orders(
    client: ShardClient, skus: list[str], total: int, acked: dict[str, dict[str, Any]], stop: threading.Event
) -> None:
    """Send ``total`` one-unit orders round-robin over ``skus`` in batches, recording every answer.

    ``ShardClient.submit`` re-sends a batch until its shard answers, so a batch in flight when the
    fault hits is retried unchanged: that is the retry the invariants must survive.
    """
    n = 0
    while not stop.is_set() and n < total:
        evs = [order(n + i, skus[(n + i) % len(skus)]) for i in range(BATCH)]
        for ev, d in zip(evs, client.submit(evs)[0], strict=True):
            acked[ev["key"]] = d
        n += BATCH


def stream_orders_async(
    client: ShardClient, skus: list[str], total: int, acked: dict[str, dict[str, Any]], stop: threading.Event
) -> None:
    """``stream_orders`` through ``ShardClient.submit_async``, as the gateway sends: direct links
    to the shards, Ray when a link breaks; four batches in flight, like the gateway's flushes."""

    async def run() -> None:
        n = 0
        while not stop.is_set() and n < total:
            batches = [
                [order(m + i, skus[(m + i) % len(skus)]) for i in range(BATCH)]
                for m in range(n, min(n + 4 * BATCH, total), BATCH)
            ]
            answers = await asyncio.gather(*(client.submit_async(evs) for evs in batches))
            for evs, (decisions, _) in zip(batches, answers, strict=True):
                for ev, d in zip(evs, decisions, strict=True):
                    acked[ev["key"]] = d
            n += len(batches) * BATCH

    asyncio.run(run())


def as_answered(raw: str, d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The parts of a stored idempotency record, decoded against the event ``d`` answered (its
    key, kind, order and SKUs, which the record leaves out: ``engine.idempotency``)."""
    ev = {
        "key": d["key"], "kind": d["kind"], "channel": d.get("channel"), "order_id": d.get("order_id"),
        "lines": [{"sku": ln["sku"]} for ln in d["lines"]],
    }  # fmt: skip
    return {vs: idempotency.decode(part, ev) for vs, part in idempotency.parse(raw)[1].items()}


def check_invariants(
    r: redis.Redis,
    keys: Keys,
    smap: ShardMap,
    client: ShardClient,
    skus: list[str],
    initial: Mapping[str, int],
    acked: dict[str, dict[str, Any]],
) -> None:
    """Durable, counted once, conserved, never negative, memory equal to Redis, retries identical,
    and every SKU's audit trail one unbroken chain ending at its count in Redis.

    ``initial``: each SKU's stock before the one-unit orders in ``acked``, the only events after it.
    """
    # Every acknowledged decision is durable: the idempotency record holds the same answer.
    for k, d in acked.items():
        raw = idem_layout.read(r, keys.idem_registry(), k)
        assert raw is not None, k
        vs = str(smap.vshard(d["lines"][0]["sku"]))
        assert as_answered(raw, d) == {vs: d}, k

    # No retried event counted twice: one audit entry per event key.
    audit: Counter[str] = Counter()
    entries: list[dict[str, Any]] = []
    current: dict[str, tuple[int, int]] = {}
    for vs in {smap.vshard(s) for s in skus}:
        for _, fields in r.xrange(keys.audit(vs)) or []:
            assert fields is not None
            entry = audit_entries.decode(fields)
            entries.append(entry)
            if entry["kind"] == "order_placed":
                audit[entry["key"]] += 1
        stock: Any = r.hgetall(keys.stock(vs))
        for sku, raw in stock.items():
            rec = SkuRecord.decode(raw)
            current[sku.decode()] = (rec.available, rec.version)
    assert set(audit) == set(acked) and max(audit.values()) == 1

    # Each SKU's trail, at every step: from no record to its count now, never below zero, one
    # version per change (a lost, doubled or reordered commit breaks the chain).
    faults = chain_faults(entries, current)
    assert not faults, f"{len(faults)} audit chain faults, first: {faults[:5]}"

    # Conservation per SKU, in Redis and in the shard's memory. The orders ask for more than the
    # stock: units are granted while any are left (one each), refused (0 granted) after that.
    sold: Counter[str] = Counter()
    ordered: Counter[str] = Counter()
    for d in acked.values():
        (line,) = d["lines"]
        ordered[line["sku"]] += 1
        sold[line["sku"]] += line["accepted"]
        assert (line["outcome"], line["accepted"]) in {("accepted", 1), ("insufficient", 0)}, d
    for s in skus:
        available, _ = current[s]
        assert available == initial[s] - sold[s] >= 0, s
        assert sold[s] == min(initial[s], ordered[s]), s  # nothing refused while stock was left
        assert client.get(s)["available"] == available  # type: ignore[index]

    # A retry of acknowledged events after the fault changes nothing and answers identically:
    # the first orders (granted) and the last (refused: these workloads run every SKU out of stock).
    items = list(acked.items())
    some = items[:100] + items[-100:]
    evs = [order(int(k[1:]), d["lines"][0]["sku"]) for k, d in some]
    assert client.submit(evs)[0] == [d for _, d in some]
