"""One reconciliation run across channels: observe the targets, backfill every channel, compare the targets.

Why the steps are in this order, see ``actors.reconcile_run``. This module adds what a run needs to
be stopped part-way: ``run.step`` says where it is, and a cancelled run (deadline, operator) stores
every report it had not stored yet, with what it had counted and why it stopped, before it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import httpx

from actors.reconcile_run import ChannelReconciler, Shards, submit_backfill
from actors.reconcile_runs import Run
from adapters.reading import ReadStats
from engine.reconcile import DriftReport

log = logging.getLogger(__name__)


class Pass:
    """Runs ``run`` with one ``ChannelReconciler`` per reconcilable channel (the targets among them)."""

    def __init__(
        self, run: Run, reconcilers: dict[str, ChannelReconciler], client: httpx.AsyncClient, shards: Shards
    ) -> None:
        self.run, self.reconcilers, self.client, self.shards = run, reconcilers, client, shards
        self.stats = {cid: ReadStats() for cid in reconcilers}
        self.saved: set[str] = set()
        run.reports = {cid: DriftReport(cid, time.time()) for cid in run.targets}

    async def __call__(self) -> None:
        try:
            await self._steps()
        except asyncio.CancelledError:
            await self._settle()
            raise

    async def _steps(self) -> None:
        run, reports = self.run, self.run.reports
        observed: dict[str, tuple[float, dict[str, int]]] = {}
        run.step = "reading listings"
        for cid in run.targets:
            t = time.time()
            with _failure(reports[cid], "reading listings"):
                observed[cid] = await self.reconcilers[cid].observe(self.client, self.stats[cid])
            reports[cid].steps_s["observe"] = round(time.time() - t, 3)
        run.step = "backfilling orders"
        t = time.time()
        failed = await self._backfill()
        for report in reports.values():
            report.steps_s["backfill"] = round(time.time() - t, 3)
        run.step = "comparing and correcting"
        for cid in run.targets:
            report = reports[cid]
            t = time.time()
            if failed and not report.error:  # a missing sale could be relisted: correct nothing
                report.error = f"backfill failed on {', '.join(failed)}: nothing corrected"
            if cid in observed and not report.error:
                with _failure(report, "comparing"):
                    await self.reconcilers[cid].compare(observed[cid][1], observed[cid][0], report)
            report.steps_s["compare"] = round(time.time() - t, 3)
            await self._save(cid)

    async def _backfill(self) -> list[str]:
        """Every channel's missing orders, decided in one pass; the channels whose backfill failed."""
        reports = self.run.reports
        every = {cid: reports.get(cid) or DriftReport(cid, time.time()) for cid in self.reconcilers}
        events, failed = [], []
        for cid, rec in self.reconcilers.items():
            try:
                events += await rec.missing(self.client, self.stats[cid], every[cid])
            except Exception as exc:  # this channel's lost sales stay unknown: nothing is corrected
                failed.append(cid)
                every[cid].error = (
                    every[cid].error or f"listing orders: {type(exc).__name__}: {str(exc)[:300]}"
                )
        try:
            await submit_backfill(self.shards, events, every)
        except Exception as exc:  # nothing is known to be decided: every watermark stays
            for report in every.values():
                report.error = report.error or f"backfilling orders: {type(exc).__name__}: {str(exc)[:300]}"
            return list(self.reconcilers)
        for cid, rec in self.reconcilers.items():
            if cid not in failed:
                await rec.commit(every[cid])
        for report in reports.values():
            report.backfilled_elsewhere = sum(r.orders_backfilled for r in every.values() if r is not report)
        return failed

    async def _save(self, cid: str) -> None:
        report = self.run.reports[cid]
        await self.reconcilers[cid].finish(report, self.stats[cid])
        self.saved.add(cid)
        if report.error:
            log.warning("reconcile %s: %s", cid, report.error)

    async def _settle(self) -> None:
        """Store each report not stored yet, saying why the run stopped; counts so far stay in it."""
        why = self.run.interruption()
        for cid, report in self.run.reports.items():
            if cid in self.saved:
                continue
            report.error = f"{why}; {report.error}" if report.error else why
            with contextlib.suppress(Exception):  # Redis down too: the status still says it all
                await self._save(cid)


@contextlib.contextmanager
def _failure(report: DriftReport, step: str) -> Iterator[None]:
    """Record an exception in ``report`` (a channel or shard outage ends the step, not the run)."""
    try:
        yield
    except Exception as exc:
        report.error = f"{step}: {type(exc).__name__}: {str(exc)[:300]}"
