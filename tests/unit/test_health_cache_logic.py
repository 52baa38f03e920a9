"""``HealthCache`` and the supervisor view's judgement, on a fake clock (no actors)."""

from __future__ import annotations

import asyncio

from actors.gateway.health_cache import Health, HealthCache
from actors.gateway.health_probe import judge_view
from tests.unit.clock import FakeClock


class Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.health = Health(True)
        self.fail = False

    async def __call__(self) -> Health:
        self.calls += 1
        if self.fail:
            raise RuntimeError("actors unreachable")
        return self.health


async def never(seconds: float) -> None:
    await asyncio.Event().wait()  # the test drives refreshes itself


def test_calls_read_the_cache_and_a_stale_cache_answers_503() -> None:
    async def scenario() -> None:
        probe, clock = Probe(), FakeClock()
        cache = HealthCache(probe, interval_s=1.0, stale_after=3, clock=clock, sleep=never)
        assert await cache.answer() == (200, {"status": "ok"})  # the first call waits for a result
        for _ in range(500):
            assert await cache.answer() == (200, {"status": "ok"})
        assert probe.calls == 1
        clock.advance(3.0)
        assert (await cache.answer())[0] == 200
        probe.fail = True
        await cache.refresh()  # a failed refresh does not renew the result
        clock.advance(0.5)
        assert await cache.answer() == (
            503,
            {"status": "unavailable", "reason": "health last checked 4 s ago"},
        )
        probe.fail, probe.health = False, Health(False, "a shard is not answering", {"x": 1})
        await cache.refresh()
        assert await cache.answer() == (503, {"status": "unavailable", "reason": "a shard is not answering"})
        assert cache.task is not None
        cache.task.cancel()

    asyncio.run(scenario())


def test_the_refresher_stops_when_nobody_asks_and_restarts_fresh() -> None:
    async def scenario() -> None:
        probe, clock = Probe(), FakeClock()
        ticks: list[float] = []

        async def tick(seconds: float) -> None:
            ticks.append(seconds)
            clock.advance(seconds)
            await asyncio.sleep(0)

        cache = HealthCache(probe, interval_s=1.0, idle_after=5, clock=clock, sleep=tick)
        assert (await cache.answer())[0] == 200
        assert cache.task is not None
        await cache.task  # nobody asks again: it stops after about idle_after intervals
        assert probe.calls == 6 and ticks == [1.0] * 6
        probe.health = Health(False, "the supervisor is not answering")
        clock.advance(100.0)
        assert (await cache.answer())[1]["reason"] == "the supervisor is not answering"  # fresh, not stale
        cache.task.cancel()

    asyncio.run(scenario())


def test_a_degraded_or_silent_supervisor_view_is_unhealthy() -> None:
    assert judge_view({"status": "ok", "age_s": 3.0, "every_s": 15.0}).ok
    assert judge_view({"status": "unknown"}).ok  # an older supervisor: no age to judge
    assert not judge_view({"status": "degraded", "age_s": 1.0, "every_s": 15.0}).ok
    stalled = judge_view({"status": "ok", "age_s": 60.0, "every_s": 15.0})
    assert (stalled.ok, stalled.reason) == (False, "the supervisor's health checks stopped")
