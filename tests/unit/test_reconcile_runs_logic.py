"""``RunRegistry``: joining, refusing a second manual run, deadlines, cancellation, failures."""

from __future__ import annotations

import asyncio

import pytest

from actors.reconcile_runs import Run, RunBusy, RunRegistry
from engine.reconcile import DriftReport
from tests.unit.clock import FakeClock


class Work:
    """An ``Execute`` that stays in its second step until released (or cancelled)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.settled: list[str] = []
        self.fail: Exception | None = None

    async def __call__(self, run: Run) -> None:
        self.started.append(run.id)
        run.reports = {cid: DriftReport(cid, 0.0) for cid in run.targets}
        run.reports[run.targets[0]].orders_listed = 3
        run.step = "backfilling orders"
        try:
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
        except asyncio.CancelledError:
            self.settled.append(run.id)
            raise


async def ended(registry: RunRegistry, run: Run) -> Run:
    done = await registry.wait(run.id, 30.0)
    assert done is not None and done.status != "running", done
    return done


def test_a_duplicate_manual_request_joins_the_run_in_flight() -> None:
    async def scenario() -> None:
        work = Work()
        registry = RunRegistry(work, deadline_s=60.0)
        first, joined = registry.start(["a"], "a")
        again, joined_again = registry.start(["a"], "a")
        assert (joined, joined_again) == (False, True) and again is first
        every, _ = RunRegistry(work, 60.0).start(["a", "b"], None)
        assert every.covers(["a"])
        await asyncio.sleep(0)  # let the task start
        work.release.set()
        done = await ended(registry, first)
        assert done.status == "done" and work.started.count(first.id) == 1
        assert [r["channel"] for r in done.to_json()["reports"]] == ["a"]
        later, joined_later = registry.start(["a"], "a")  # the first ended: a new run
        assert not joined_later and later.id != first.id
        registry.cancel_all()
        await ended(registry, later)

    asyncio.run(scenario())


def test_a_second_manual_run_for_other_channels_is_refused_with_the_running_id() -> None:
    async def scenario() -> None:
        work = Work()
        registry = RunRegistry(work, deadline_s=60.0)
        first, _ = registry.start(["a"], "a")
        with pytest.raises(RunBusy) as busy:
            registry.start(["a", "b"], None)
        assert busy.value.run is first
        scheduled, joined = registry.start(["b"], None, kind="scheduled")  # never behind a manual run
        assert not joined and {r.id for r in registry.running()} == {first.id, scheduled.id}
        registry.cancel_all()
        await ended(registry, first)
        await ended(registry, scheduled)

    asyncio.run(scenario())


def test_a_run_past_its_deadline_is_cancelled_and_says_where_it_was() -> None:
    async def scenario() -> None:
        work, clock = Work(), FakeClock(1000.0)
        registry = RunRegistry(work, deadline_s=0.05, clock=clock)
        run, _ = registry.start(["a"], "a")
        assert run.to_json()["deadline_at"] == 1000.05 and "reports" not in run.to_json()
        done = await ended(registry, run)
        assert done.status == "deadline_exceeded"
        assert done.reason == "deadline of 0.05 s exceeded while backfilling orders: run cancelled"
        assert work.settled == [run.id]  # the work saw the cancellation (it stores its reports then)
        body = done.to_json()
        assert body["reports"][0]["orders_listed"] == 3 and body["finished_at"] == 1000.0
        assert registry.manual is run and registry.start(["a"], "a")[1] is False  # not joined: it ended
        registry.cancel_all()

    asyncio.run(scenario())


def test_cancel_and_failure_are_reported() -> None:
    async def scenario() -> None:
        work = Work()
        registry = RunRegistry(work, deadline_s=60.0)
        run, _ = registry.start(["a"], "a")
        await asyncio.sleep(0)
        assert registry.cancel(run.id) is run and registry.cancel("nope") is None
        done = await ended(registry, run)
        assert (done.status, done.reason) == ("cancelled", "cancelled while backfilling orders")
        work.fail = RuntimeError("redis down")
        work.release.set()
        failing, _ = registry.start(["a"], "a")
        done = await ended(registry, failing)
        assert (done.status, done.reason) == ("failed", "RuntimeError: redis down")

    asyncio.run(scenario())


def test_wait_gives_up_without_touching_the_run_and_old_runs_are_forgotten() -> None:
    async def scenario() -> None:
        work = Work()
        registry = RunRegistry(work, deadline_s=60.0, keep=2)
        run, _ = registry.start(["a"], "a")
        assert (await registry.wait(run.id, 0.01)) is run and run.status == "running"
        assert await registry.wait("nope", 0.01) is None
        work.release.set()
        await ended(registry, run)
        for _ in range(3):
            await ended(registry, registry.start(["a"], "a")[0])
        assert len(registry.runs) == 2 and run.id not in registry.runs

    asyncio.run(scenario())
