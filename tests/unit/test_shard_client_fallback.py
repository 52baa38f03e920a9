"""``ShardClient.submit_async`` falls back to the actor call when a shard offers no direct link."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from actors.shard_client import ShardClient
from engine.routing import ShardMap
from engine.wire import decode_events


class Method:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> Any:
        return self.fn(*args)


class NoLinkShard:
    """Stands in for a shard handle whose start could not open a link (or that predates links)."""

    def __init__(self) -> None:
        self.batches = 0
        self.endpoint = Method(self._endpoint)
        self.apply_batch = Method(self._apply)

    async def _endpoint(self) -> dict[str, Any]:
        raise RuntimeError("this shard has no direct link; use apply_batch")

    async def _apply(self, blob: bytes) -> bytes:
        self.batches += 1
        decisions = [{"key": e["key"], "outcome": "applied", "lines": []} for e in decode_events(blob)]
        return orjson.dumps({"decisions": decisions, "changed": {}})


def test_no_link_means_the_actor_call_not_a_failure() -> None:
    shard = NoLinkShard()
    client = ShardClient([shard], ShardMap(1, vshards=4))
    events = [{"kind": "stock_set", "key": f"k{i}", "sku": f"S{i}", "quantity": 1} for i in range(3)]

    async def run() -> list[dict[str, Any]]:
        decisions, _ = await client.submit_async(events)
        again, _ = await client.submit_async(events)
        assert again == decisions
        return decisions

    assert [d["key"] for d in asyncio.run(run())] == ["k0", "k1", "k2"]
    assert shard.batches == 2 and client.links_opened == 0
