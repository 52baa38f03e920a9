"""``actors.tasks.Tasks``: tasks are held until done, and ``cancel`` stops the ones still running."""

from __future__ import annotations

import asyncio

import pytest

from actors.tasks import Tasks


def test_a_task_is_held_until_done_then_dropped() -> None:
    async def run() -> None:
        tasks, release = Tasks(), asyncio.Event()

        async def wait() -> None:
            await release.wait()

        task = tasks.spawn(wait())
        await asyncio.sleep(0)
        assert list(tasks) == [task] and len(tasks) == 1
        release.set()
        await task
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
        assert len(tasks) == 0

    asyncio.run(run())


def test_cancel_stops_every_running_task() -> None:
    async def run() -> None:
        tasks, finished = Tasks(), []

        async def forever(name: str) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                finished.append(name)

        spawned = [tasks.spawn(forever("a")), tasks.spawn(forever("b"))]
        await asyncio.sleep(0)
        tasks.cancel()
        results = await asyncio.gather(*spawned, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert sorted(finished) == ["a", "b"] and len(tasks) == 0

    asyncio.run(run())


def test_spawn_off_a_running_loop_raises() -> None:
    async def nothing() -> None:
        return None

    coro = nothing()
    with pytest.raises(RuntimeError):
        Tasks().spawn(coro)
    coro.close()
