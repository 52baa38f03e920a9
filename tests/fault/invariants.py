"""What every fault test checks after the fault: nothing acknowledged lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import orjson
import redis

from actors.shard_client import ShardClient
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.store import Keys

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


def check_invariants(
    r: redis.Redis,
    keys: Keys,
    smap: ShardMap,
    client: ShardClient,
    skus: list[str],
    initial: int,
    acked: dict[str, dict[str, Any]],
) -> None:
    """Durable, counted once, conserved, never negative, memory equal to Redis, retries identical."""
    # Every acknowledged decision is durable: the idempotency record holds the same answer.
    pipe = r.pipeline()
    for k, d in acked.items():
        pipe.get(keys.idem(smap.vshard(d["lines"][0]["sku"]), k))
    for (k, d), raw in zip(acked.items(), pipe.execute(), strict=True):
        assert raw is not None and orjson.loads(raw)[1] == d, k

    # No retried event counted twice: one audit entry per event key.
    audit: Counter[str] = Counter()
    for vs in {smap.vshard(s) for s in skus}:
        for _, fields in r.xrange(keys.audit(vs)) or []:
            assert fields is not None
            entry = orjson.loads(fields[b"d"])
            if entry["kind"] == "order_placed":
                audit[entry["key"]] += 1
    assert set(audit) == set(acked) and max(audit.values()) == 1

    # Conservation per SKU, in Redis and in the shard's memory.
    sold = Counter(d["lines"][0]["sku"] for d in acked.values() if d["lines"][0]["accepted"])
    for s in skus:
        raw = r.hget(keys.stock(smap.vshard(s)), s)
        assert raw is not None
        rec = SkuRecord.decode(raw)
        assert rec.available == initial - sold[s] >= 0
        assert client.get(s)["available"] == rec.available  # type: ignore[index]

    # A retry of acknowledged events after the fault changes nothing and answers identically.
    some = list(acked.items())[:200]
    evs = [order(int(k[1:]), d["lines"][0]["sku"]) for k, d in some]
    assert client.submit(evs)[0] == [d for _, d in some]
