"""Per-shard micro-batchers: a stalled shard holds only its own callers; split events are merged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.gateway.batcher import BatcherClosed
from actors.gateway.shard_batchers import ShardBatchers


def shard_of(sku: str) -> int:
    return 0 if sku.startswith("A") else 1


class FakeShards:
    """Decides each event part as the ledger would shape it; shard 1 can be stalled on a gate."""

    def __init__(self) -> None:
        self.flushes: list[tuple[int, list[str]]] = []
        self.shard1_gate = asyncio.Event()
        self.shard1_gate.set()

    async def submit(self, events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        shards = {shard_of(line["sku"]) for e in events for line in e["lines"]}
        assert len(shards) == 1, "a flush must carry one shard's events only"
        shard = shards.pop()
        self.flushes.append((shard, [e["key"] for e in events]))
        if shard == 1:
            await self.shard1_gate.wait()
        decisions = [
            {
                "key": e["key"],
                "outcome": "applied",
                "lines": [{"sku": ln["sku"], "shard": shard} for ln in e["lines"]],
            }
            for e in events
        ]
        return decisions, {}


def order(key: str, *skus: str) -> dict[str, Any]:
    return {
        "kind": "order_placed",
        "key": key,
        "channel": "c",
        "order_id": key,
        "lines": [{"sku": s, "quantity": 1} for s in skus],
    }


def test_a_stalled_shard_does_not_hold_the_other_shards_callers() -> None:
    async def main() -> None:
        fake = FakeShards()
        fake.shard1_gate.clear()
        batchers = ShardBatchers(fake.submit, shard_of, 2, max_events=100, max_wait_ms=1, max_inflight=1)
        # shard 1's only in-flight slot is taken by a flush that does not come back
        stuck = [asyncio.create_task(batchers.submit([order("b0", "B1")]))]
        await asyncio.sleep(0.02)
        # and the next ones wait for it
        stuck += [asyncio.create_task(batchers.submit([order(f"b{i}", "B1")])) for i in (1, 2)]
        await asyncio.sleep(0.02)
        assert batchers.inflight == 1 and batchers.pending == 2
        # shard 0's callers are answered meanwhile, flush after flush
        for i in range(3):
            answer = await asyncio.wait_for(batchers.submit([order(f"a{i}", "A1")]), timeout=1.0)
            assert answer[0]["key"] == f"a{i}" and answer[0]["lines"][0]["shard"] == 0
        assert not any(t.done() for t in stuck)
        fake.shard1_gate.set()
        answers = await asyncio.wait_for(asyncio.gather(*stuck), timeout=1.0)
        assert [a[0]["key"] for a in answers] == ["b0", "b1", "b2"]

    asyncio.run(main())


def test_an_order_across_shards_waits_for_both_and_gets_its_lines_in_order() -> None:
    async def main() -> None:
        fake = FakeShards()
        batchers = ShardBatchers(fake.submit, shard_of, 2, max_events=100, max_wait_ms=1)
        [decision] = await batchers.submit([order("o1", "B2", "A1", "B3")])
        assert decision["key"] == "o1" and decision["outcome"] == "applied"
        assert [(ln["sku"], ln["shard"]) for ln in decision["lines"]] == [("B2", 1), ("A1", 0), ("B3", 1)]
        assert sorted(fake.flushes) == [(0, ["o1"]), (1, ["o1"])]

    asyncio.run(main())


def test_several_events_of_one_request_come_back_in_request_order() -> None:
    async def main() -> None:
        fake = FakeShards()
        batchers = ShardBatchers(fake.submit, shard_of, 2, max_events=100, max_wait_ms=1)
        events = [order("x", "B1"), order("y", "A1"), order("z", "B9")]
        assert [d["key"] for d in await batchers.submit(events)] == ["x", "y", "z"]
        assert await batchers.submit([]) == []

    asyncio.run(main())


def test_drain_flushes_every_shard_then_refuses_new_events() -> None:
    async def main() -> None:
        fake = FakeShards()
        batchers = ShardBatchers(fake.submit, shard_of, 2, max_events=100, max_wait_ms=60_000)
        waiting = [asyncio.create_task(batchers.submit([order(k, s)])) for k, s in (("a", "A1"), ("b", "B1"))]
        await asyncio.sleep(0)
        assert batchers.pending == 2
        await batchers.drain()
        assert [(await t)[0]["key"] for t in waiting] == ["a", "b"]
        assert batchers.flushes == 2
        with pytest.raises(BatcherClosed):
            await batchers.submit([order("late", "A1")])

    asyncio.run(main())


def test_a_failed_flush_fails_its_callers_only() -> None:
    async def main() -> None:
        async def submit(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            if shard_of(events[0]["lines"][0]["sku"]) == 1:
                raise RuntimeError("shard 1 unavailable")
            return [{"key": e["key"], "outcome": "applied", "lines": []} for e in events], {}

        batchers = ShardBatchers(submit, shard_of, 2, max_events=100, max_wait_ms=1)
        ok, failed, split = await asyncio.gather(
            batchers.submit([order("a", "A1")]),
            batchers.submit([order("b", "B1")]),
            batchers.submit([order("ab", "A2", "B2")]),
            return_exceptions=True,
        )
        assert isinstance(ok, list) and ok[0]["key"] == "a"
        assert isinstance(failed, RuntimeError) and isinstance(split, RuntimeError)

    asyncio.run(main())


def test_at_least_one_shard() -> None:
    with pytest.raises(ValueError):
        ShardBatchers(FakeShards().submit, shard_of, 0)
