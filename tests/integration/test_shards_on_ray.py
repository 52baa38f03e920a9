"""Shard actors on a local Ray cluster over the real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from engine.config import Config, load_config
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(ray_cluster: None, prefix: str) -> Iterator[tuple[Config, ShardClient]]:
    cfg = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "2"})
    handles = ensure_shards(cfg, REDIS_URL)
    yield cfg, ShardClient(handles, ShardMap(cfg.engine.shards, cfg.engine.vshards))
    kill_shards(cfg)


def stored(client: redis.Redis, cfg: Config, sku: str) -> SkuRecord:
    vs = ShardMap(cfg.engine.shards, cfg.engine.vshards).vshard(sku)
    return SkuRecord.decode(client.hget(Keys(cfg.store.key_prefix).stock(vs), sku))


def test_concurrent_callers_on_one_hot_sku_accept_exactly_min_stock_demand(
    deployment: tuple[Config, ShardClient], redis_client: redis.Redis
) -> None:
    cfg, client = deployment
    client.submit([{"kind": "stock_set", "key": "seed", "sku": "HOT", "quantity": 500}])
    callers, orders_each, batch = 6, 300, 25
    results: list[list[dict[str, Any]]] = [[] for _ in range(callers)]

    def hammer(c: int) -> None:
        for b in range(0, orders_each, batch):
            evs = [
                {
                    "kind": "order_placed",
                    "key": f"c{c}-{i}",
                    "channel": f"ch{c}",
                    "order_id": f"{c}-{i}",
                    "lines": [{"sku": "HOT", "quantity": 1}],
                }
                for i in range(b, b + batch)
            ]
            results[c] += client.submit(evs)[0]

    threads = [threading.Thread(target=hammer, args=(c,)) for c in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = sum(d["lines"][0]["accepted"] for r in results for d in r)
    assert accepted == min(500, callers * orders_each)
    assert sum(1 for r in results for d in r if d["lines"][0]["outcome"] == "insufficient") == 1300
    assert client.get("HOT")["available"] == 0  # type: ignore[index]
    assert stored(redis_client, cfg, "HOT").available == 0
    versions = sorted(d["lines"][0]["version"] for r in results for d in r if d["lines"][0]["accepted"])
    assert versions == list(range(2, 502))  # each accepted sale is exactly one version step


def test_orders_spanning_shards_are_split_and_merged(deployment: tuple[Config, ShardClient]) -> None:
    _, client = deployment
    smap = client.shard_map
    skus = [f"S{i}" for i in range(40)]
    assert len({smap.shard(s) for s in skus}) == 2
    client.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 1} for s in skus])
    [d], changed = client.submit(
        [
            {
                "kind": "order_placed",
                "key": "big",
                "channel": "c",
                "order_id": "big",
                "lines": [{"sku": s, "quantity": 1} for s in skus],
            }
        ]
    )
    assert [ln["sku"] for ln in d["lines"]] == skus
    assert all(ln["outcome"] == "accepted" for ln in d["lines"])
    assert set(changed) == set(skus)
    [c], _ = client.submit(
        [{"kind": "order_cancelled", "key": "big-c", "channel": "c", "order_id": "big", "skus": skus}]
    )
    assert sum(ln["delta"] for ln in c["lines"]) == 40


def test_a_restarted_shard_starts_again_without_waiting_for_a_call(
    deployment: tuple[Config, ShardClient], redis_client: redis.Redis
) -> None:
    """A caller answered just before the crash never calls again, yet the new activation must
    reload and re-publish its SKUs to the channels: it claims a new epoch on its own."""
    import ray

    from actors.runtime import NAMESPACE, shard_name

    cfg, client = deployment
    client.submit([{"kind": "stock_set", "key": "seed-R", "sku": "R", "quantity": 3}])
    shard = client.shard_map.shard("R")
    epoch_key = Keys(cfg.store.key_prefix).epoch(shard)
    assert redis_client.get(epoch_key) == b"1"
    ray.kill(ray.get_actor(shard_name(cfg.store.key_prefix, shard), namespace=NAMESPACE), no_restart=False)
    deadline = time.monotonic() + 30
    while redis_client.get(epoch_key) != b"2":  # no call goes to the shard meanwhile
        assert time.monotonic() < deadline, "the restarted shard did not start on its own"
        time.sleep(0.05)
