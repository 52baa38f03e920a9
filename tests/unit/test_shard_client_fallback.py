"""``ShardClient`` without a live link: no link means the actor call, a restarting shard is polled."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from ray.exceptions import ActorUnavailableError

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


class RestartingShard:
    """Ray's behaviour while an actor restarts: calls made before the new activation runs are held
    and then fail; calls made after it runs are answered at once."""

    def __init__(self, up_after_s: float, held_for_s: float) -> None:
        self.up_after_s, self.held_for_s = up_after_s, held_for_s
        self.started = 0.0
        self.calls = 0
        self.endpoint = Method(self._endpoint)

    async def _endpoint(self) -> dict[str, Any]:
        self.calls += 1
        loop = asyncio.get_running_loop()
        if loop.time() - self.started < self.up_after_s:
            await asyncio.sleep(self.held_for_s)
            raise ActorUnavailableError("restarting", None)
        return {"token": "t", "port": 1}


def test_a_restarting_shard_is_asked_again_instead_of_waiting_on_one_held_call() -> None:
    shard = RestartingShard(up_after_s=0.2, held_for_s=5.0)
    client = ShardClient([shard], ShardMap(1, vshards=4))

    async def run() -> tuple[dict[str, Any], float]:
        loop = asyncio.get_running_loop()
        shard.started = loop.time()
        endpoint = await client._endpoint(0)
        return endpoint, loop.time() - shard.started

    endpoint, took = asyncio.run(run())
    assert endpoint["token"] == "t"
    # answered by a call made after the shard came back, long before the first call's 5 s hold ends
    assert took < shard.held_for_s and shard.calls >= 2


def test_a_shard_that_never_answers_gives_up_at_the_endpoint_deadline() -> None:
    shard = RestartingShard(up_after_s=60.0, held_for_s=0.01)
    client = ShardClient([shard], ShardMap(1, vshards=4))
    client.endpoint_wait_s = 0.3

    async def run() -> None:
        shard.started = asyncio.get_running_loop().time()
        await client._endpoint(0)

    with pytest.raises(ActorUnavailableError):
        asyncio.run(run())


class FakeLink:
    def __init__(self) -> None:
        self.closed = False

    def abort(self) -> None:
        self.closed = True


def test_a_late_failure_on_the_old_link_leaves_its_replacement_alone() -> None:
    client = ShardClient([NoLinkShard()], ShardMap(1, vshards=4))

    async def run() -> None:
        old, new = FakeLink(), FakeLink()
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        opened.set_result(new)
        client._links()[0] = opened  # type: ignore[assignment]  # the first failure opened ``new``
        client._forget(0, old)  # type: ignore[arg-type]  # a second batch on ``old`` fails later
        assert old.closed and not new.closed
        assert client._links()[0] is opened
        client._forget(0, new)  # type: ignore[arg-type]  # ``new`` breaks in its turn: dropped
        assert new.closed and 0 not in client._links()

    asyncio.run(run())
