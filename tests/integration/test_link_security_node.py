"""With ``engine.link_host = "node"`` a shard's link is reachable at its node's address (issue 19,
item 3): what a gateway on another node uses."""

from __future__ import annotations

import asyncio

import pytest
import ray

from actors.runtime import ensure_shards, kill_shards
from actors.shard_link import LinkClient, address_for
from engine.config import load_config
from engine.wire import encode_events
from tests.conftest import REDIS_URL
from tests.integration.test_link_security_shard import WAIT_S, placed

pytestmark = pytest.mark.integration


def test_with_link_host_node_a_caller_on_another_node_reaches_the_shard_at_its_node_address(
    ray_cluster: None, prefix: str
) -> None:
    env = {
        "SKUSYNC_STORE_KEY_PREFIX": prefix,
        "SKUSYNC_ENGINE_SHARDS": "1",
        "SKUSYNC_ENGINE_LINK_HOST": "node",
    }
    config = load_config(env=env)
    [handle] = ensure_shards(config, REDIS_URL)
    try:
        endpoint = ray.get(handle.endpoint.remote())
        node_ip = ray.util.get_node_ip_address()
        assert set(endpoint["hosts"]) == {"127.0.0.1", node_ip}
        host, port = address_for(endpoint, "203.0.113.9")  # as a gateway on another node sees it

        async def send() -> bytes:
            link = await LinkClient.connect(host, port, endpoint["token"])
            try:
                return await asyncio.wait_for(link.call(encode_events([placed("far", 1)])), WAIT_S)
            finally:
                await link.close()

        assert host == node_ip and b'"outcome"' in asyncio.run(send())
    finally:
        kill_shards(config)
