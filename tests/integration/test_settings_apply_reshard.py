"""A new shard count (2 -> 3) while orders stream in: every decision kept, none counted twice.

The start with three shards (``ensure_shards`` from a driver, as ``serve`` calls it) stops both old
shards, then starts three that claim their vshards by epoch. Batches in flight meanwhile lose
their answer; the stream sends them again, unchanged, through a client of the new shards (as a
marketplace re-delivers a webhook the gateway answered 5xx), and the idempotency records answer
what had been committed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import ray
import redis
from ray.exceptions import RayActorError

from actors.deployment import Deployment, shard_names
from actors.names import supervisor_name
from actors.runtime import ensure_shards
from actors.shard_client import ShardClient, ShardUnavailable
from engine.config import Config
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL
from tests.fault.invariants import BATCH, check_invariants, order

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TOTAL = 20_000


class Stream:
    """One-unit orders in batches through whichever client is current; a batch that fails is sent
    again, unchanged, once the next client is published."""

    def __init__(self, client: ShardClient, link: bool) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop() if link else None
        """``link``: batches go as the gateway sends them (``submit_async``: direct links, Ray when
        a link breaks) on this thread's loop; else as Ray calls (``submit``)."""
        self.swapped = threading.Event()
        self.quarter = threading.Event()
        """Set once a quarter of the orders are answered: the shard count changes then."""
        self.acked: dict[str, dict[str, Any]] = {}
        self.failed = 0
        self.error: BaseException | None = None

    def run(self, skus: list[str]) -> None:
        try:
            for n in range(0, TOTAL, BATCH):
                evs = [order(n + i, skus[(n + i) % len(skus)]) for i in range(BATCH)]
                for ev, d in zip(evs, self._submit(evs), strict=True):
                    self.acked[ev["key"]] = d
                if len(self.acked) >= TOTAL // 4:
                    self.quarter.set()
        except BaseException as exc:  # the test thread reports it
            self.error = exc
            self.quarter.set()
        finally:
            if self.loop is not None:  # the links' reader tasks end with the loop, not after it
                tasks = asyncio.all_tasks(self.loop)
                for task in tasks:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self.loop.close()

    def _submit(self, evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        while True:
            client = self.client
            try:
                if self.loop is None:
                    return client.submit(evs)[0]
                return self.loop.run_until_complete(client.submit_async(evs))[0]
            except ShardUnavailable:
                self.failed += 1
                if self.swapped.is_set() and client is self.client:
                    raise  # the new shards failed it too
                if not self.swapped.wait(120):
                    raise


def config(prefix: str, shards: int) -> Config:
    return Config.model_validate({"store": {"key_prefix": prefix}, "engine": {"shards": shards}})


@pytest.mark.parametrize("path", ["ray", "link"])
def test_shard_count_change_with_orders_streaming_keeps_every_decision_once(
    ray_cluster: None, prefix: str, redis_client: redis.Redis, path: str
) -> None:
    old_cfg, new_cfg = config(prefix, 2), config(prefix, 3)
    old_handles = ensure_shards(old_cfg, REDIS_URL)
    old = ShardClient(old_handles, ShardMap(2, old_cfg.engine.vshards), retry_deadline_s=2.0)
    old.endpoint_wait_s = 1.0  # a stopped shard never gives one: fall back to Ray, then fail
    skus = [f"K{i}" for i in range(50)]
    stock = {s: 20 + 7 * i for i, s in enumerate(skus)}  # 400 orders per SKU: all run out
    old.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": q} for s, q in stock.items()])
    stream = Stream(old, link=path == "link")
    thread = threading.Thread(target=stream.run, args=(skus,))
    thread.start()
    try:
        assert stream.quarter.wait(120)
        before = len(stream.acked)

        new_handles = ensure_shards(new_cfg, REDIS_URL)
        smap = ShardMap(3, new_cfg.engine.vshards)
        stream.client = ShardClient(new_handles, smap, retry_deadline_s=20.0)
        stream.swapped.set()
        thread.join(timeout=180)
    finally:
        stream.swapped.set()
    assert not thread.is_alive() and stream.error is None, stream.error
    assert before < TOTAL and len(stream.acked) == TOTAL
    assert stream.failed >= 1  # batches were in flight to the old shards when they went
    assert shard_names(prefix) == [f"{prefix}-shard-{i}" for i in range(3)]
    for handle in old_handles:  # the old shards are gone for good, not restarted
        with pytest.raises(RayActorError):
            ray.get(handle.ping.remote(), timeout=30)
    # Every vshard is owned by the epoch of the shard the new map gives it.
    tokens = [ray.get(h.stats.remote())["epoch"] for h in new_handles]
    keys = Keys(prefix)
    owners = redis_client.mget([keys.owner(vs) for vs in range(new_cfg.engine.vshards)])
    assert [o.decode() if o else None for o in owners] == [  # type: ignore[union-attr]
        tokens[smap.shard_of_vshard(vs)] for vs in range(new_cfg.engine.vshards)
    ]

    check_invariants(redis_client, keys, smap, stream.client, skus, stock, stream.acked)
    with Deployment(prefix, REDIS_URL) as deployment:
        deployment.stop_all([supervisor_name(prefix)], [])
