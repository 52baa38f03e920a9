"""``Supervisor``: reconciliation per channel (scheduled and on demand), dead-letter redrive, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ray
import redis.asyncio as aioredis

from actors.channel_http import outbound_for
from actors.health import check
from actors.names import NAMESPACE, channel_name, shard_name
from actors.reconcile_run import ChannelReconciler, option, submit_backfill
from actors.shard_client import ShardClient
from actors.tasks import Tasks
from adapters.base import adapter_for
from adapters.reading import ReadStats
from engine.config import ChannelConfig, Config
from engine.reconcile import DriftReport
from engine.redrive import RedrivePlan
from engine.routing import ShardMap
from engine.store.keys import Keys
from engine.store.reconcile_store import ReconcileStore

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class Supervisor:
    """Watches one deployment: reconciles every channel, redrives dead letters, recreates lost actors.

    An async actor; runs never overlap per channel (a lock each), so a scheduled run and an
    on-demand one for the same channel take turns. Detached and restartable: it keeps nothing that
    matters in memory (watermarks and reports are in Redis), so a restart only re-arms the timers.
    Channel extras: ``reconcile_every_s`` (default ``every_s``, 3600; 0 turns the schedule off), and
    those of ``ChannelReconciler``. ``health_every_s`` paces health checks and redrives.
    """

    def __init__(
        self,
        config: Config,
        redis_url: str,
        fan_out: bool = True,
        every_s: float = 3600.0,
        health_every_s: float = 15.0,
    ) -> None:
        self.config, self.redis_url, self.fan_out = config, redis_url, fan_out
        self.every_s, self.health_every_s = every_s, health_every_s
        prefix = config.store.key_prefix
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=10)
        self.shard_map = ShardMap(config.engine.shards, config.engine.vshards)
        self.store = ReconcileStore(self.redis, Keys(prefix), self.shard_map)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self.channels = {c.id: c for c in config.channels if _can_reconcile(c)}
        self.run_lock = asyncio.Lock()
        self.next_run = {cid: time.time() + self._every(c) for cid, c in self.channels.items()}
        self.redrive = RedrivePlan(time.time)
        self.last_health: dict[str, Any] = {"status": "unknown"}
        self.shards = ShardClient(self._shard_handles(), self.shard_map)
        self._tasks = Tasks()
        with contextlib.suppress(RuntimeError):  # on the actor's loop: start the timers now
            self._tasks.spawn(self._schedule())
            self._tasks.spawn(self._watch())

    # -- handles ------------------------------------------------------------------------------------

    def _every(self, channel: ChannelConfig) -> float:
        return option(channel, "reconcile_every_s", self.every_s)

    def _shard_handles(self) -> list[Any]:
        prefix = self.config.store.key_prefix
        try:
            return [
                ray.get_actor(shard_name(prefix, i), namespace=NAMESPACE)
                for i in range(self.config.engine.shards)
            ]
        except ValueError:
            from actors.runtime import ensure_shards  # runtime imports this module

            return ensure_shards(self.config, self.redis_url, fan_out=self.fan_out)

    def _channel(self, cid: str) -> Any:
        return ray.get_actor(channel_name(self.config.store.key_prefix, cid), namespace=NAMESPACE)

    # -- reconciliation -----------------------------------------------------------------------------

    async def reconcile(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Run reconciliation now for ``channel_id`` (or every channel); one drift report each.

        Every channel's orders are backfilled, whichever channel is reconciled: a sale lost on any
        channel must be in master before any listing is corrected (see ``actors.reconcile_run``).
        Changes stock only through the shards (backfilled sales, each counted once whichever path
        brings it: safe to repeat) and listings only through the channel actors' correction lane.
        Runs never overlap (one lock). Raises ``KeyError`` for a channel that is not configured or
        whose kind cannot be reconciled.
        """
        targets = list(self.channels) if channel_id is None else [channel_id]
        for cid in targets:
            if cid not in self.channels:
                raise KeyError(f"no reconcilable channel {cid!r}")
        async with self.run_lock:
            reports = await self._run(targets)
        now = time.time()
        for cid in targets:
            self.next_run[cid] = now + self._every(self.channels[cid])
        return [r.to_json() for r in reports]

    async def _run(self, targets: list[str]) -> list[DriftReport]:
        runs = {cid: self._reconciler(cid) for cid in self.channels}
        reports = {cid: DriftReport(cid, time.time()) for cid in targets}
        stats = {cid: ReadStats() for cid in self.channels}
        observed: dict[str, tuple[float, dict[str, int]]] = {}
        for cid in targets:
            t = time.time()
            with _failure(reports[cid], "reading listings"):
                observed[cid] = await runs[cid].observe(self.client, stats[cid])
            reports[cid].steps_s["observe"] = round(time.time() - t, 3)
        t = time.time()
        failed = await self._backfill(runs, reports, stats)
        for report in reports.values():
            report.steps_s["backfill"] = round(time.time() - t, 3)
        for cid in targets:
            report = reports[cid]
            t = time.time()
            if failed and not report.error:  # a missing sale could be relisted: correct nothing
                report.error = f"backfill failed on {', '.join(failed)}: nothing corrected"
            if cid in observed and not report.error:
                with _failure(report, "comparing"):
                    await runs[cid].compare(observed[cid][1], observed[cid][0], report)
            report.steps_s["compare"] = round(time.time() - t, 3)
            await runs[cid].finish(report, stats[cid])
            if report.error:
                log.warning("reconcile %s: %s", cid, report.error)
        return list(reports.values())

    async def _backfill(
        self, runs: dict[str, ChannelReconciler], reports: dict[str, DriftReport], stats: dict[str, ReadStats]
    ) -> list[str]:
        """Every channel's missing orders, decided in one pass; the channels whose backfill failed."""
        every = {cid: reports.get(cid) or DriftReport(cid, time.time()) for cid in runs}
        events, failed = [], []
        for cid, run in runs.items():
            try:
                events += await run.missing(self.client, stats[cid], every[cid])
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
            return list(runs)
        for cid, run in runs.items():
            if cid not in failed:
                await run.commit(every[cid])
        for report in reports.values():
            report.backfilled_elsewhere = sum(r.orders_backfilled for r in every.values() if r is not report)
        return failed

    def _reconciler(self, cid: str) -> ChannelReconciler:
        channel, handle = self.channels[cid], self._channel(cid)
        rate = (channel.rate_limit.per_second, channel.rate_limit.burst) if channel.rate_limit else None
        return ChannelReconciler(
            channel,
            adapter_for(channel.kind).RECONCILE,
            rate or outbound_for(channel).default_rate,
            self.shards,
            self.store,
            lambda fixes, observed_at: handle.correct.remote(fixes, observed_at),
        )

    async def reports(self) -> dict[str, dict[str, Any]]:
        """The last drift report of every channel (from Redis: survives restarts)."""
        return await self.store.reports()

    async def _schedule(self) -> None:
        while True:
            now = time.time()
            due = [
                cid for cid, c in self.channels.items() if self._every(c) > 0 and self.next_run[cid] <= now
            ]
            if due:
                try:
                    async with self.run_lock:
                        await self._run(due)
                except Exception:  # the next round must still run
                    log.exception("scheduled reconcile of %s failed", ", ".join(due))
                for cid in due:
                    self.next_run[cid] = time.time() + self._every(self.channels[cid])
            waits = [
                t - time.time() for cid, t in self.next_run.items() if self._every(self.channels[cid]) > 0
            ]
            await asyncio.sleep(max(1.0, min([60.0, *waits])) if waits else 60.0)

    # -- health and dead letters --------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.health()
            with contextlib.suppress(Exception):
                await self.redrive_dead_letters()
            await asyncio.sleep(self.health_every_s)

    async def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """Ping every shard and channel actor, recreate missing ones, and return the view
        (``actors.health.check``); the shard client adopts recreated shards."""
        view, handles = await check(self.config, self.redis_url, self.fan_out, timeout_s)
        if handles is not None:
            self.shards.handles = list(handles)
        self.last_health = view
        return view

    async def health_view(self) -> dict[str, Any]:
        """The last health check's result, without checking again (cheap: for ``/healthz``)."""
        return self.last_health

    async def redrive_dead_letters(self) -> dict[str, Any]:
        """Redrive each channel's dead letters when its backoff allows; report what stays dead.

        Retry-safe: a redrive re-queues each dead SKU's newest target (``ChannelActor.dlq_redrive``).
        """
        for cid in self.config.channels:
            handle = self._channel(cid.id)
            entries = await handle.dlq_list.remote(1000)
            if self.redrive.due(cid.id, entries):
                result = await handle.dlq_redrive.remote()
                self.redrive.redriven(cid.id, result)
        return self.redrive.report()

    async def dead_letters(self) -> dict[str, Any]:
        """What stays dead per channel: entries, SKUs, the last error, redrive attempts, next redrive."""
        return self.redrive.report()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._tasks.cancel()
        await self.client.aclose()
        await self.redis.aclose()


@contextlib.contextmanager
def _failure(report: DriftReport, step: str) -> Iterator[None]:
    """Record an exception in ``report`` (a channel or shard outage ends the step, not the run)."""
    try:
        yield
    except Exception as exc:
        report.error = f"{step}: {type(exc).__name__}: {str(exc)[:300]}"


def _can_reconcile(channel: ChannelConfig) -> bool:
    try:
        return getattr(adapter_for(channel.kind), "RECONCILE", None) is not None
    except KeyError:
        return False
