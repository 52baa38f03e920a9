"""The gateway's micro-batcher on a plain event loop with a fake submit function (no Ray, no Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.gateway.batcher import BatcherClosed, MicroBatcher


class FakeShards:
    """Answers each event with a decision naming its key; records every flush; can fail or stall."""

    def __init__(self) -> None:
        self.flushes: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail_when: str | None = None

    async def submit(self, events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        keys = [e["key"] for e in events]
        self.flushes.append(keys)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_when in keys:
            raise RuntimeError(f"shard refused batch with {self.fail_when}")
        return [{"key": k, "outcome": "applied"} for k in keys], {k: {"available": 1} for k in keys}


def ev(key: str) -> dict[str, Any]:
    return {"kind": "stock_set", "key": key, "sku": "S", "quantity": 1}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_size_flush_sends_one_batch_and_each_caller_gets_its_own_decisions() -> None:
    async def main() -> None:
        fake = FakeShards()
        # a wait that never ends within the test: only the size can trigger these flushes
        batcher = MicroBatcher(fake.submit, max_events=4, max_wait_ms=60_000)
        answers = await asyncio.gather(
            batcher.submit([ev("a")]), batcher.submit([ev("b"), ev("c")]), batcher.submit([ev("d")])
        )
        assert fake.flushes == [["a", "b", "c", "d"]]
        assert [[d["key"] for d in a] for a in answers] == [["a"], ["b", "c"], ["d"]]

    run(main())


def test_time_flush_sends_a_partial_batch_after_the_wait() -> None:
    async def main() -> None:
        fake = FakeShards()
        batcher = MicroBatcher(fake.submit, max_events=1000, max_wait_ms=5)
        answers = await asyncio.gather(batcher.submit([ev("a")]), batcher.submit([ev("b")]))
        assert fake.flushes == [["a", "b"]]
        assert [a[0]["key"] for a in answers] == ["a", "b"]

    run(main())


def test_a_request_is_never_split_across_flushes() -> None:
    async def main() -> None:
        fake = FakeShards()
        batcher = MicroBatcher(fake.submit, max_events=3, max_wait_ms=60_000)
        first = asyncio.ensure_future(batcher.submit([ev("a"), ev("b")]))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(batcher.submit([ev("c"), ev("d")]))  # would overflow: a flushes first
        await asyncio.sleep(0)
        big = asyncio.ensure_future(batcher.submit([ev(f"x{i}") for i in range(5)]))  # larger than a batch
        await asyncio.gather(first, second, big)
        assert fake.flushes == [["a", "b"], ["c", "d"], [f"x{i}" for i in range(5)]]

    run(main())


def test_flushes_are_concurrent_not_serialised() -> None:
    async def main() -> None:
        fake = FakeShards()
        fake.gate = asyncio.Event()  # every flush stalls until released
        batcher = MicroBatcher(fake.submit, max_events=1, max_wait_ms=60_000)
        waiting = [asyncio.ensure_future(batcher.submit([ev(k)])) for k in "abc"]
        for _ in range(5):
            await asyncio.sleep(0)
        assert fake.flushes == [["a"], ["b"], ["c"]]  # all three submitted while none has answered
        assert batcher.inflight == 3
        fake.gate.set()
        assert [w[0]["key"] for w in await asyncio.gather(*waiting)] == ["a", "b", "c"]

    run(main())


def test_batches_wait_for_a_free_flush_slot_and_then_go_together() -> None:
    async def main() -> None:
        fake = FakeShards()
        fake.gate = asyncio.Event()
        batcher = MicroBatcher(fake.submit, max_events=100, max_wait_ms=1, max_inflight=1)
        first = asyncio.ensure_future(batcher.submit([ev("a")]))
        while not fake.flushes:  # the timer flushes "a"; its answer is held back
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(batcher.submit([ev(k)])) for k in "bcd"]
        await asyncio.sleep(0.02)  # many timer periods: still one flush, the slot is taken
        assert fake.flushes == [["a"]] and batcher.pending == 3
        fake.gate.set()
        await asyncio.gather(first, *later)
        assert fake.flushes == [["a"], ["b", "c", "d"]]  # released together by the first answer

    run(main())


def test_a_failed_flush_fails_only_its_own_callers() -> None:
    async def main() -> None:
        fake = FakeShards()
        fake.fail_when = "bad"
        batcher = MicroBatcher(fake.submit, max_events=2, max_wait_ms=60_000)
        results = await asyncio.gather(
            batcher.submit([ev("ok1")]),
            batcher.submit([ev("bad")]),  # flush 1: ok1 + bad
            batcher.submit([ev("ok2")]),
            batcher.submit([ev("ok3")]),  # flush 2: ok2 + ok3
            return_exceptions=True,
        )
        assert fake.flushes == [["ok1", "bad"], ["ok2", "ok3"]]
        assert isinstance(results[0], RuntimeError) and isinstance(results[1], RuntimeError)
        assert [r[0]["key"] for r in results[2:]] == ["ok2", "ok3"]  # type: ignore[index]

    run(main())


def test_drain_flushes_queued_events_waits_for_them_and_refuses_new_ones() -> None:
    async def main() -> None:
        fake = FakeShards()
        changed: list[dict[str, Any]] = []
        batcher = MicroBatcher(fake.submit, max_events=100, max_wait_ms=60_000, on_changed=changed.append)
        queued = asyncio.ensure_future(batcher.submit([ev("a")]))
        await asyncio.sleep(0)
        assert batcher.pending == 1
        await batcher.drain()
        assert queued.done() and queued.result()[0]["key"] == "a"
        assert batcher.inflight == 0 and changed == [{"a": {"available": 1}}]
        with pytest.raises(BatcherClosed):
            await batcher.submit([ev("late")])

    run(main())


def test_a_caller_that_goes_away_does_not_break_the_others() -> None:
    async def main() -> None:
        fake = FakeShards()
        fake.gate = asyncio.Event()
        batcher = MicroBatcher(fake.submit, max_events=2, max_wait_ms=60_000)
        gone = asyncio.ensure_future(batcher.submit([ev("gone")]))
        stays = asyncio.ensure_future(batcher.submit([ev("stays")]))
        await asyncio.sleep(0)
        gone.cancel()
        fake.gate.set()
        assert (await stays)[0]["key"] == "stays"
        assert fake.flushes == [["gone", "stays"]]  # its event was still decided: a retry replays it

    run(main())


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(FakeShards().submit, max_events=0)
