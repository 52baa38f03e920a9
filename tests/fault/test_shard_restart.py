"""Kill a shard in the middle of a stream: it must come back equal to Redis, losing and doubling nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
import ray
import redis

from actors.runtime import NAMESPACE, ensure_shards, kill_shards, shard_name
from actors.shard_client import ShardClient
from engine.config import load_config
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.fault
TOTAL = 20_000


def test_killed_shard_restarts_with_state_equal_to_redis(
    ray_cluster: None, prefix: str, redis_client: redis.Redis
) -> None:
    cfg = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "2"})
    smap = ShardMap(cfg.engine.shards, cfg.engine.vshards)
    client = ShardClient(ensure_shards(cfg, REDIS_URL), smap)
    skus = [f"K{i}" for i in range(50)]
    client.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 400} for s in skus])
    victim = smap.shard("K0")
    acked: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    def stream() -> None:
        n = 0
        while not stop.is_set() and n < TOTAL:
            evs = [
                {
                    "kind": "order_placed",
                    "key": f"e{n + i}",
                    "channel": "c",
                    "order_id": f"{n + i}",
                    "lines": [{"sku": skus[(n + i) % 50], "quantity": 1}],
                }
                for i in range(40)
            ]
            for ev, d in zip(evs, client.submit(evs)[0], strict=True):
                acked[ev["key"]] = d
            n += 40

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < TOTAL // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    before_kill = len(acked)
    handle = ray.get_actor(shard_name(prefix, victim), namespace=NAMESPACE)
    old_pid = ray.get(handle.stats.remote())["pid"]
    ray.kill(handle, no_restart=False)
    t.join(timeout=120)
    stop.set()
    assert not t.is_alive()
    stats = ray.get(handle.stats.remote())
    assert stats["pid"] != old_pid and stats["epoch"].endswith(":2")  # a new activation, fenced epoch
    assert len(acked) == TOTAL and before_kill < TOTAL

    # Every acknowledged decision is durable: the idempotency record holds the same answer.
    keys = Keys(prefix)
    pipe = redis_client.pipeline()
    for k in acked:
        pipe.get(keys.idem(smap.vshard(acked[k]["lines"][0]["sku"]), k))
    for (k, d), raw in zip(acked.items(), pipe.execute(), strict=True):
        assert raw is not None and orjson.loads(raw)[1] == d, k

    # No retried event counted twice: one audit entry per event key, and conservation per SKU.
    audit: Counter[str] = Counter()
    for vs in {smap.vshard(s) for s in skus}:
        for _, fields in redis_client.xrange(keys.audit(vs)):
            entry = orjson.loads(fields[b"d"])
            if entry["kind"] == "order_placed":
                audit[entry["key"]] += 1
    assert set(audit) == set(acked) and max(audit.values()) == 1
    sold = Counter(d["lines"][0]["sku"] for d in acked.values() if d["lines"][0]["accepted"])
    for s in skus:
        rec = SkuRecord.decode(redis_client.hget(keys.stock(smap.vshard(s)), s))
        assert rec.available == 400 - sold[s] >= 0
        assert client.get(s)["available"] == rec.available  # type: ignore[index]

    # A retry of the whole stream after the restart changes nothing and answers identically.
    some = list(acked.items())[:200]
    evs = [
        {
            "kind": "order_placed",
            "key": k,
            "channel": "c",
            "order_id": k[1:],
            "lines": [{"sku": d["lines"][0]["sku"], "quantity": 1}],
        }
        for k, d in some
    ]
    assert client.submit(evs)[0] == [d for _, d in some]
    kill_shards(cfg)
