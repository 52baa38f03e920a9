"""The shard link over a real shard actor: events are validated on arrival, loopback by default
(issue 19, item 3)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.runtime import ensure_shards, kill_shards
from actors.shard_client import ShardClient
from actors.shard_link import LinkClient, LinkFailed, address_for
from engine.config import Config, load_config
from engine.routing import ShardMap
from engine.wire import encode_events
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration
WAIT_S = 30.0


@pytest.fixture
def shard(ray_cluster: None, prefix: str) -> Iterator[tuple[Config, Any]]:
    config = load_config(env={"SKUSYNC_STORE_KEY_PREFIX": prefix, "SKUSYNC_ENGINE_SHARDS": "1"})
    [handle] = ensure_shards(config, REDIS_URL)
    try:
        yield config, handle
    finally:
        kill_shards(config)


def placed(key: str, quantity: int) -> dict[str, Any]:
    line = {"sku": "SKU-1", "quantity": quantity, "kept": 0}
    return {
        "kind": "order_placed",
        "key": key,
        "at": 0.0,
        "channel": "shop",
        "order_id": key,
        "lines": [line],
    }


def test_an_order_placed_with_quantity_minus_5_over_an_authenticated_link_is_refused(
    shard: tuple[Config, Any],
) -> None:
    config, handle = shard
    ShardClient([handle], ShardMap(1, config.engine.vshards)).submit(
        [{"kind": "stock_set", "key": "seed", "sku": "SKU-1", "quantity": 10}]
    )
    before = ray.get(handle.get.remote("SKU-1"))
    endpoint = ray.get(handle.endpoint.remote())
    host, port = address_for(endpoint, ray.util.get_node_ip_address())

    async def send() -> bytes:
        link = await LinkClient.connect(host, port, endpoint["token"])
        try:
            with pytest.raises(LinkFailed, match="quantity"):
                await asyncio.wait_for(link.call(encode_events([placed("evil", -5)])), WAIT_S)
            with pytest.raises(LinkFailed, match="validated form"):  # "5" for 5 is coerced at the edge
                await asyncio.wait_for(link.call(encode_events([placed("coerced", "5")])), WAIT_S)  # type: ignore[arg-type]
            return await asyncio.wait_for(link.call(encode_events([placed("fine", 2)])), WAIT_S)
        finally:
            await link.close()

    answer = asyncio.run(send())
    assert b'"outcome":"accepted"' in answer  # the same link still decides a valid order
    after = ray.get(handle.get.remote("SKU-1"))
    assert after["available"] == before["available"] - 2


def test_the_link_listens_on_loopback_unless_link_host_opens_the_node_address(
    shard: tuple[Config, Any],
) -> None:
    _, handle = shard
    assert set(ray.get(handle.endpoint.remote())["hosts"]) == {"127.0.0.1"}
