"""A throwaway deployment for the HTTP benchmarks: Ray, two seeded shard actors, and their cleanup."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.common import delete_prefix
from benchmarks.loadgen import CHANNEL, SECRET

SEED_UNITS = 10**9
"""Units per SKU: no benchmark runs a SKU out, so every accepted webhook takes exactly one unit."""


@dataclass
class BenchShards:
    """The deployment's config (as a dict, for the targets to rebuild), its shard client and SKUs."""

    cfg: dict[str, Any]
    client: Any
    """An ``actors.shard_client.ShardClient`` over the shard actors."""
    skus: list[str]

    @property
    def token(self) -> str:
        token: str = self.cfg["gateway"]["admin_token"]
        return token

    def units_taken(self) -> int:
        """Units gone from every SKU since seeding: one per webhook answered 200, if none is lost
        or counted twice."""
        records = self.client.get_many(self.skus).values()
        return sum(SEED_UNITS - rec["available"] for rec in records if rec)


@contextlib.contextmanager
def bench_shards(redis_url: str, tag: str, skus: int) -> Iterator[BenchShards]:
    """Start Ray here unless it runs, create two shard actors under a fresh key prefix
    (``bench<tag><random>``) and seed ``skus`` SKUs; afterwards kill the actors, delete every key
    under the prefix and stop the Ray this started."""
    import ray

    from actors.runtime import ensure_shards, kill_shards, start_ray
    from actors.shard_client import ShardClient
    from engine.config import Config
    from engine.routing import ShardMap

    started_ray = not ray.is_initialized()
    start_ray(num_cpus=2)
    cfg = {
        "store": {"redis_url": redis_url, "key_prefix": f"bench{tag}{uuid.uuid4().hex[:6]}"},
        "gateway": {"admin_token": uuid.uuid4().hex, "port": 0},
        "engine": {"shards": 2},
        "channels": [{"id": CHANNEL, "kind": "shopify", "webhook_secret": SECRET}],
    }
    config = Config.model_validate(cfg)
    try:
        client = ShardClient(
            ensure_shards(config, redis_url, fan_out=True),
            ShardMap(config.engine.shards, config.engine.vshards),
        )
        names = [f"B{i:05d}" for i in range(skus)]
        client.submit(
            [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": SEED_UNITS} for s in names]
        )
        yield BenchShards(cfg, client, names)
    finally:
        kill_shards(config)
        delete_prefix(redis_url, config.store.key_prefix)
        if started_ray:
            ray.shutdown()
