"""Kill Redis (SIGKILL) in the middle of a stream and start it again from its append-only file.

The shards must ride it out: batches in flight fail and are re-sent, the shard reloads before
deciding again, and afterwards every acknowledged decision is in Redis, none counted twice, stock
conserved and never negative. This holds only with ``appendfsync always`` (the README's durability
section): Redis then writes a commit to disk before answering it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from engine.config import load_config
from engine.routing import ShardMap
from engine.store import Keys
from engine.store.durability import check_durability
from tests.fault.invariants import BATCH, check_invariants, stream_orders
from tests.fault.private_redis import PrivateRedis

pytestmark = pytest.mark.fault
TOTAL = 12_000


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """AOF fsynced per write: a commit is on disk before Redis answers it."""
    server = PrivateRedis(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    yield server
    server.kill()


def test_redis_killed_mid_stream_loses_and_doubles_nothing(
    ray_cluster: None, prefix: str, durable_redis: PrivateRedis
) -> None:
    assert check_durability(redis.Redis.from_url(durable_redis.url)) is None  # what the README asks for
    cfg = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "2"})
    smap = ShardMap(cfg.engine.shards, cfg.engine.vshards)
    client = ShardClient(ensure_shards(cfg, durable_redis.url), smap)
    skus = [f"K{i}" for i in range(50)]
    # 240 one-unit orders per SKU against 10..206 units: SKUs run out before, around and after the
    # kill, so grants, refusals and the switch between them all happen under the fault.
    stock = {s: 10 + 4 * i for i, s in enumerate(skus)}
    client.submit(
        [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": q} for s, q in stock.items()]
    )
    acked: dict[str, dict[str, Any]] = {}
    stop = threading.Event()
    t = threading.Thread(target=stream_orders, args=(client, skus, TOTAL, acked, stop))
    t.start()
    try:
        deadline = time.monotonic() + 60
        while len(acked) < TOTAL // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        durable_redis.kill()
        at_kill = len(acked)
        time.sleep(1.0)  # long enough for every shard to fail a read or a commit
        # Nothing is answered without Redis: at most the batch whose answer was on its way.
        assert len(acked) - at_kill <= BATCH
        durable_redis.start()
        t.join(timeout=120)
        assert not t.is_alive()
        assert len(acked) == TOTAL and at_kill < TOTAL
        check_invariants(
            redis.Redis.from_url(durable_redis.url), Keys(prefix), smap, client, skus, stock, acked
        )
    finally:
        stop.set()
        t.join(timeout=30)
        kill_shards(cfg)
