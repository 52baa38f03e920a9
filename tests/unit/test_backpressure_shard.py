"""A shard's pending plans (decided, not yet committed) stay under their bound when batches arrive
faster than commits finish: the extra batches wait, none is refused (issue 19 item 2). Real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys
from tests.conftest import REDIS_URL

SMAP = ShardMap(1, vshards=16)


def order(i: int, sku: str) -> dict[str, Any]:
    lines = [{"sku": sku, "quantity": 1}]
    return {"kind": "order_placed", "key": f"o{i}", "channel": "x", "order_id": str(i), "lines": lines}


async def until(check: Any) -> None:
    for _ in range(100_000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.mark.parametrize("bound", [1, 4])
def test_pending_plans_never_exceed_the_bound_under_a_burst(prefix: str, bound: int) -> None:
    async def go() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(
            0, SMAP, client, Keys(prefix), clock=lambda: 5.0, max_pending_plans=bound
        ).start()
        await core.apply_batch([{"kind": "stock_set", "key": "seed", "sku": "A", "quantity": 100}])
        gate, commit = asyncio.Event(), core.store.commit
        seen: list[int] = []

        async def stalled_commit(plans: list[Any]) -> None:
            seen.append(len(core.ledger.pending))
            await gate.wait()
            await commit(plans)

        core.store.commit = stalled_commit  # type: ignore[method-assign]
        burst = [asyncio.ensure_future(core.apply_batch([order(i, "A")])) for i in range(40)]
        await until(lambda: len(core.ledger.pending) == bound)
        for _ in range(200):  # with the commit held, no further batch gets decided
            await asyncio.sleep(0)
        assert len(core.ledger.pending) == bound and not any(b.done() for b in burst)
        gate.set()
        results = await asyncio.gather(*burst)
        assert all(
            r.decisions[0]["lines"][0]["outcome"] == "accepted" for r in results
        )  # waited, never refused
        assert core.pending_peak == bound and max(seen) <= bound
        assert core.get("A")["available"] == 60  # type: ignore[index]
        assert core.stats()["pending_peak"] == bound
        await client.aclose()

    asyncio.run(go())


def test_a_failed_commit_wakes_the_waiting_batches(prefix: str) -> None:
    """Batches waiting for room are not stranded when the commit that held it fails: they reload
    and are decided, each exactly once."""

    async def go() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(0, SMAP, client, Keys(prefix), clock=lambda: 5.0, max_pending_plans=1).start()
        await core.apply_batch([{"kind": "stock_set", "key": "seed", "sku": "A", "quantity": 10}])
        gate, commit = asyncio.Event(), core.store.commit
        fail = [True]

        async def failing_once(plans: list[Any]) -> None:
            await gate.wait()
            if fail.pop() if fail else False:
                raise ConnectionError("redis went away")
            await commit(plans)

        core.store.commit = failing_once  # type: ignore[method-assign]
        burst = [asyncio.ensure_future(core.apply_batch([order(i, "A")])) for i in range(5)]
        await until(lambda: len(core.ledger.pending) == 1)
        gate.set()
        results = await asyncio.gather(*burst, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 1  # only the batch whose commit failed; the others reloaded and went on
        retried = await core.apply_batch([order(0, "A")])  # the failed one, re-sent: decided once
        assert retried.decisions[0]["lines"][0]["outcome"] == "accepted"
        assert core.get("A")["available"] == 5  # type: ignore[index]

    asyncio.run(go())
