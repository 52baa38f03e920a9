"""Reconciliation runs as tasks with an id, a deadline and a readable status (Ray-free).

Why runs are tasks rather than calls: a run reads whole catalogs within a share of each channel's
budget, and a channel that refuses connections keeps it retrying for minutes. Holding an HTTP
request (and a lock) for that long let a client that gave up leave the run going anyway, and queued
every later run behind it. Here each run is started once, answered by id, and cancelled at its
deadline; what it had done by then stays in its reports.

Fairness: at most one manual run is in flight. A manual request for channels that run already
covers joins it; any other is refused with the running one's id (``RunBusy``), so manual requests
cannot pile up. Scheduled runs never wait for a manual one: the registry holds no lock, and the
scheduler starts its own runs beside it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.reconcile import DriftReport

Clock = Callable[[], float]
STATUSES = ("running", "done", "failed", "deadline_exceeded", "cancelled")
KEEP = 50
"""Finished runs kept for ``GET /v1/reconcile/{run_id}`` (the reports themselves are also in Redis)."""


class RunBusy(Exception):
    """A manual run for other channels is in flight; ``run`` is it."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"manual reconciliation {run.id} is running")
        self.run = run


@dataclass
class Run:
    """One reconciliation run. ``reports`` fill in as it goes; ``step`` names what it is doing."""

    id: str
    kind: str  # "manual" | "scheduled"
    channel: str | None  # what was asked: one channel, or None for every channel
    targets: list[str]
    started_at: float
    deadline_s: float
    status: str = "running"
    step: str = "starting"
    reason: str = ""
    finished_at: float | None = None
    reports: dict[str, DriftReport] = field(default_factory=dict)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    ending: str | None = field(default=None, repr=False)
    """Why the task is being cancelled (set before ``cancel()``): ``deadline_exceeded`` or ``cancelled``."""

    def covers(self, targets: Sequence[str]) -> bool:
        return set(targets) <= set(self.targets)

    def interruption(self) -> str:
        """Why the run is being cancelled, for its status and its reports."""
        if self.ending == "deadline_exceeded":
            return f"deadline of {self.deadline_s:g} s exceeded while {self.step}: run cancelled"
        return f"cancelled while {self.step}"

    def to_json(self, reports: bool = True, now: float | None = None) -> dict[str, Any]:
        """The status a client reads; reports only once the run has ended (they are partial before)."""
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        out: dict[str, Any] = {
            "run_id": self.id,
            "kind": self.kind,
            "channel": self.channel,
            "channels": list(self.targets),
            "status": self.status,
            "step": self.step,
            "started_at": self.started_at,
            "deadline_at": self.started_at + self.deadline_s,
            "finished_at": self.finished_at,
            "elapsed_s": round(max(0.0, end - self.started_at), 3),
        }
        if self.reason:
            out["reason"] = self.reason
        if reports and self.status != "running":
            out["reports"] = [r.to_json() for r in self.reports.values()]
        return out


Execute = Callable[[Run], Awaitable[None]]
"""Does the run's work, updating ``run.step`` and ``run.reports``; on cancellation it stores what it
has (``run.ending`` says why) and re-raises."""


class RunRegistry:
    """Starts runs, cancels them at their deadline, answers their status; on one event loop."""

    def __init__(
        self, execute: Execute, deadline_s: float, clock: Clock = time.time, keep: int = KEEP
    ) -> None:
        self.execute, self.deadline_s, self.clock, self.keep = execute, deadline_s, clock, keep
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self.manual: Run | None = None

    def start(self, targets: Sequence[str], channel: str | None, kind: str = "manual") -> tuple[Run, bool]:
        """Start a run (or join the manual one in flight); ``(run, joined)``.

        Raises ``RunBusy`` for a manual request the in-flight manual run does not cover.
        """
        if kind == "manual" and self.manual is not None and self.manual.status == "running":
            if self.manual.covers(targets):
                return self.manual, True
            raise RunBusy(self.manual)
        run = Run(uuid.uuid4().hex[:16], kind, channel, list(targets), self.clock(), self.deadline_s)
        self.runs[run.id] = run
        if kind == "manual":
            self.manual = run
        run.task = asyncio.get_running_loop().create_task(self._drive(run), name=f"reconcile-{run.id}")
        run.task.add_done_callback(lambda _: self._ended(run))
        self._forget_old()
        return run, False

    async def _drive(self, run: Run) -> None:
        timer = asyncio.get_running_loop().call_later(run.deadline_s, self._stop, run, "deadline_exceeded")
        try:
            await self.execute(run)
            run.status = "done"
        except asyncio.CancelledError:
            run.status, run.reason = run.ending or "cancelled", run.interruption()
            if run.ending is None:  # not ours (the actor is closing): let it propagate
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # ours, and handled: the task ends normally
        except Exception as exc:
            run.status, run.reason = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            timer.cancel()

    def _ended(self, run: Run) -> None:
        # A task cancelled before its first step never enters ``_drive``: its status is set here.
        if run.status == "running":
            run.status, run.reason = run.ending or "cancelled", run.interruption()
        run.finished_at = self.clock()

    def _stop(self, run: Run, ending: str) -> None:
        if run.task is not None and not run.task.done() and run.ending is None:
            run.ending = ending
            run.task.cancel()

    def cancel(self, run_id: str) -> Run | None:
        """Cancel a running run (its partial reports are kept); the run, or None if unknown."""
        run = self.runs.get(run_id)
        if run is not None:
            self._stop(run, "cancelled")
        return run

    async def wait(self, run_id: str, timeout_s: float) -> Run | None:
        """The run once it has ended or after ``timeout_s``, whichever comes first; None if unknown."""
        run = self.runs.get(run_id)
        if run is None or run.task is None or timeout_s <= 0:
            return run
        await asyncio.wait([run.task], timeout=timeout_s)  # a waiter that times out leaves the run be
        return run

    def recent(self) -> list[Run]:
        """Newest first."""
        return list(reversed(self.runs.values()))

    def running(self) -> list[Run]:
        return [r for r in self.runs.values() if r.status == "running"]

    def cancel_all(self) -> None:
        for run in self.running():
            self._stop(run, "cancelled")

    def _forget_old(self) -> None:
        ended = [rid for rid, r in self.runs.items() if r.status != "running"]
        for rid in ended[: max(0, len(self.runs) - self.keep)]:
            del self.runs[rid]
