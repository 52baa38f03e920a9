"""Kill a shard in the middle of a stream: it must come back equal to Redis, losing and doubling nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import ray
import redis

from actors.runtime import NAMESPACE, ensure_shards, kill_shards, shard_name
from actors.shard_client import ShardClient
from engine.config import load_config
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL
from tests.fault.invariants import check_invariants, stream_orders, stream_orders_async

pytestmark = pytest.mark.fault
TOTAL = 20_000


@pytest.mark.parametrize("path", ["ray", "link"])
def test_killed_shard_restarts_with_state_equal_to_redis(
    ray_cluster: None, prefix: str, redis_client: redis.Redis, path: str
) -> None:
    """``ray``: batches as Ray calls (``submit``); ``link``: as the gateway sends them (``submit_async``),
    over direct links that break when the shard dies and fall back to Ray while it restarts."""
    cfg = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "2"})
    smap = ShardMap(cfg.engine.shards, cfg.engine.vshards)
    client = ShardClient(ensure_shards(cfg, REDIS_URL), smap)
    skus = [f"K{i}" for i in range(50)]
    # 400 one-unit orders per SKU against 20..363 units: SKUs run out before, around and after the
    # kill, so grants, refusals and the switch between them all happen under the fault.
    stock = {s: 20 + 7 * i for i, s in enumerate(skus)}
    client.submit(
        [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": q} for s, q in stock.items()]
    )
    victim = smap.shard("K0")
    acked: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    stream = stream_orders if path == "ray" else stream_orders_async
    t = threading.Thread(target=stream, args=(client, skus, TOTAL, acked, stop))
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
    if path == "link":  # one link per shard, and a new one to the restarted shard
        assert client.links_opened >= 3

    check_invariants(redis_client, Keys(prefix), smap, client, skus, stock, acked)
    kill_shards(cfg)
