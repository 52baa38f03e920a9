"""Back-pressure in the gateway's batchers: the in-flight cap holds for every flush, and a shard's
backlog at its bound refuses new requests for that shard only (issue 19 item 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.gateway.batcher import RETRY_AFTER_S, MicroBatcher, Overloaded
from actors.gateway.shard_batchers import ShardBatchers
from engine.decisions import WireDecision
from engine.events import WireEvent


class Stalled:
    """A submit function whose flushes are answered only when the test says so."""

    def __init__(self) -> None:
        self.calls: list[list[WireEvent]] = []
        self.gate = asyncio.Event()
        self.concurrent = self.peak = 0
        self.arrived = asyncio.Event()

    async def __call__(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        self.calls.append(events)
        self.concurrent += 1
        self.peak = max(self.peak, self.concurrent)
        self.arrived.set()
        try:
            await self.gate.wait()
        finally:
            self.concurrent -= 1
        return [{"key": e["key"], "outcome": "accepted"} for e in events], {}


def ev(i: int, sku: str = "A") -> WireEvent:
    return {"kind": "stock_set", "key": f"k{i}", "sku": sku, "quantity": 1}


async def until(check: Any) -> None:
    """Let the loop run until ``check()`` holds (every step here is answered within a few turns)."""
    for _ in range(10_000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.mark.parametrize("max_inflight", [1, 3])
def test_size_triggered_flushes_never_exceed_the_inflight_cap(max_inflight: int) -> None:
    """Every batch full at once (one event, ``max_events=1``): before, each left on its own and 50
    were in flight with a cap of 1; now the rest wait here, oldest first."""

    async def go() -> None:
        submit = Stalled()
        batcher = MicroBatcher(submit, max_events=1, max_wait_ms=1000, max_inflight=max_inflight)
        callers = [asyncio.ensure_future(batcher.submit([ev(i)])) for i in range(50)]
        await until(lambda: len(submit.calls) >= max_inflight)
        for _ in range(100):  # more turns of the loop change nothing while nothing is answered
            await asyncio.sleep(0)
        assert batcher.inflight == len(submit.calls) == max_inflight
        assert batcher.pending == 50 - max_inflight and batcher.outstanding == 50
        submit.gate.set()
        answers = await asyncio.gather(*callers)
        assert [a[0]["key"] for a in answers] == [f"k{i}" for i in range(50)]
        assert submit.peak == batcher.peak_inflight == max_inflight
        assert [c[0]["key"] for c in submit.calls] == [f"k{i}" for i in range(50)]  # oldest first
        assert batcher.outstanding == 0

    asyncio.run(go())


def test_full_batches_queue_at_max_events_and_timer_batches_wait_behind_them() -> None:
    async def go() -> None:
        submit = Stalled()
        batcher = MicroBatcher(submit, max_events=4, max_wait_ms=0, max_inflight=1)
        first = asyncio.ensure_future(batcher.submit([ev(0)]))  # the timer sends it alone
        await until(lambda: len(submit.calls) >= 1)
        rest = [asyncio.ensure_future(batcher.submit([ev(i)])) for i in range(1, 11)]
        await until(lambda: batcher.pending == 10)
        for _ in range(100):
            await asyncio.sleep(0)
        assert len(submit.calls) == 1  # neither the full batches nor the timer's passed the cap
        submit.gate.set()
        await asyncio.gather(first, *rest)
        assert [len(c) for c in submit.calls] == [1, 4, 4, 2]  # no batch over max_events
        assert submit.peak == 1

    asyncio.run(go())


def test_drain_sends_everything_queued_within_the_cap() -> None:
    async def go() -> None:
        submit = Stalled()
        batcher = MicroBatcher(submit, max_events=2, max_wait_ms=1000, max_inflight=2)
        callers = [asyncio.ensure_future(batcher.submit([ev(i)])) for i in range(9)]
        await until(lambda: len(submit.calls) >= 2)
        draining = asyncio.ensure_future(batcher.drain())
        await until(lambda: batcher.pending == 5)  # the ninth event's batch is closed, not lost
        submit.gate.set()
        await draining
        assert all(c.done() for c in callers) and submit.peak == 2
        assert sum(len(c) for c in submit.calls) == 9

    asyncio.run(go())


def test_a_shard_at_its_bound_refuses_only_requests_that_need_it() -> None:
    async def go() -> None:
        submit = Stalled()
        shard_of = {"A": 0, "B": 1}.__getitem__
        batchers = ShardBatchers(submit, shard_of, 2, max_events=2, max_wait_ms=1000, max_inflight=1)
        # two events fill a batch, which takes the one in-flight slot; the next three wait
        callers = [asyncio.ensure_future(batchers.submit([ev(i, "A")])) for i in range(5)]
        await until(lambda: batchers.batchers[0].pending == 3)
        assert batchers.batchers[0].outstanding == 5
        batchers.admit([ev(9, "A")], bound=4)  # under the bound: admitted (events in flight do not count)
        with pytest.raises(Overloaded) as refused:
            batchers.admit([ev(9, "A")], bound=3)
        assert refused.value.shard == 0 and refused.value.retry_after_s == RETRY_AFTER_S
        batchers.admit([ev(9, "B")], bound=3)  # the other shard is not held up
        order = {"kind": "order_placed", "key": "o", "channel": "c", "order_id": "1"}
        lines = [{"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 1}]
        with pytest.raises(Overloaded):  # one line on the backed-up shard refuses the whole order
            batchers.admit([{**order, "lines": lines}], bound=3)
        with pytest.raises(Overloaded):
            batchers.admit_skus(["B", "A"], bound=3)
        submit.gate.set()
        await asyncio.gather(*callers)
        assert batchers.outstanding == 0
        batchers.admit([ev(9, "A")], bound=1)  # drained: admitted again

    asyncio.run(go())


def test_a_split_request_is_queued_on_every_shard_before_the_caller_awaits() -> None:
    """``admit`` then ``submit`` with no await between: no other request can take the room."""

    async def go() -> None:
        submit = Stalled()
        shard_of = {"A": 0, "B": 1}.__getitem__
        batchers = ShardBatchers(submit, shard_of, 2, max_events=8, max_wait_ms=1000, max_inflight=1)
        lines = [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]
        event = {"kind": "order_placed", "key": "o", "channel": "c", "order_id": "1", "lines": lines}
        caller = batchers.submit([event]).__await__()
        next(caller)  # run the coroutine to its first suspension
        assert [b.outstanding for b in batchers.batchers] == [1, 1]
        caller.close()

    asyncio.run(go())


class HungShard:
    """A shard handle whose first batch is never answered (a hung, not a dead, shard); later
    ones are answered at once."""

    def __init__(self) -> None:
        self.batches = 0

        class Method:
            def __init__(self, fn: Any) -> None:
                self.remote = fn

        self.apply_batch = Method(self._apply)

    async def _apply(self, blob: bytes) -> bytes:
        import orjson

        from engine.wire import decode_events

        self.batches += 1
        if self.batches == 1:
            await asyncio.Event().wait()
        decisions = [{"key": e["key"], "outcome": "applied", "lines": []} for e in decode_events(blob)]
        return orjson.dumps({"decisions": decisions, "changed": {}})


def test_a_shard_call_that_is_never_answered_times_out_and_is_sent_again() -> None:
    """Before, a hung shard held its caller (and a gateway in-flight slot) for ever."""
    from actors.shard_client import ShardClient
    from engine.routing import ShardMap

    shard = HungShard()
    client = ShardClient([shard], ShardMap(1, vshards=4), direct=False)
    client.call_timeout_s = 0.05

    async def run() -> list[WireDecision]:
        decisions, _ = await asyncio.wait_for(client.submit_async([ev(1)]), 10)
        return decisions

    assert [d["key"] for d in asyncio.run(run())] == ["k1"]
    assert shard.batches == 2  # the same batch again: its idempotency key makes that safe
