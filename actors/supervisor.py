"""``Supervisor``: reconciliation per channel (scheduled and on demand), dead-letter redrive, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import ray
import redis.asyncio as aioredis

from actors.channel_http import outbound_for
from actors.health import check, ping
from actors.names import NAMESPACE, channel_name, shard_name
from actors.reconcile_pass import Pass
from actors.reconcile_run import ChannelReconciler, option, reading_bucket
from actors.reconcile_runs import Run, RunBusy, RunRegistry
from actors.shard_client import ShardClient
from actors.tasks import Tasks
from adapters.base import adapter_for, can_push
from engine.backoff import Backoff
from engine.config import ChannelConfig, Config
from engine.redrive import RedrivePlan
from engine.routing import ShardMap
from engine.store.keys import Keys
from engine.store.reconcile_store import ReconcileStore
from engine.token_bucket import TokenBucket

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class Supervisor:
    """Watches one deployment: reconciles every channel, redrives dead letters, recreates lost actors.

    An async actor. Runs are tasks with an id and a deadline (``engine.reconcile_deadline_s``,
    ``actors.reconcile_runs``): at most one manual run is in flight, and scheduled runs start beside
    it, never behind it; overlapping runs share each channel's reading budget. Detached and
    restartable: watermarks and reports are in Redis, so a restart only re-arms the timers (runs in
    flight and the run history are lost with it).
    Channel extras: ``reconcile_every_s`` (default ``every_s``, 3600; 0 turns the schedule off), and
    those of ``ChannelReconciler``. ``health_every_s`` paces health checks and redrives;
    ``redrive_backoff`` spaces each channel's redrives (``engine.redrive``: 60 s doubling to an hour).
    One channel's failure stays its own: a channel whose actor is missing, down or slow is reported
    in its own entry of the health view, the dead-letter report or the run's report, and every
    other channel is checked, redriven and reconciled as usual.
    """

    def __init__(
        self,
        config: Config,
        redis_url: str,
        fan_out: bool = True,
        every_s: float = 3600.0,
        health_every_s: float = 15.0,
        redrive_backoff: Backoff | None = None,
    ) -> None:
        self.config, self.redis_url, self.fan_out = config, redis_url, fan_out
        self.every_s, self.health_every_s = every_s, health_every_s
        prefix = config.store.key_prefix
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=10)
        self.shard_map = ShardMap(config.engine.shards, config.engine.vshards)
        self.store = ReconcileStore(self.redis, Keys(prefix), self.shard_map)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self.channels = {c.id: c for c in config.channels if _can_reconcile(c)}
        self.runs = RunRegistry(self._execute, config.engine.reconcile_deadline_s)
        self.buckets: dict[str, TokenBucket] = {}
        self.next_run = {cid: time.time() + self._every(c) for cid, c in self.channels.items()}
        self.redrive = RedrivePlan(time.time, redrive_backoff)
        self.last_health: dict[str, Any] = {"status": "unknown", "checked_at": time.time()}
        self.unreachable: dict[str, str] = {}
        """Channel id -> why its actor could not be asked for its dead letters at the last redrive."""
        self.shards = ShardClient([], self.shard_map)
        self._tasks = Tasks()
        self._shards_found: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):  # on the actor's loop: start the timers now
            self._shards_found = self._tasks.spawn(self._find_shards())
            self._tasks.spawn(self._schedule())
            self._tasks.spawn(self._every_health(self.health))
            self._tasks.spawn(self._every_health(self.redrive_dead_letters))
        if self._shards_found is None:  # built off a loop: blocking here blocks no one
            self.shards.handles = self._shard_handles()

    # -- handles ------------------------------------------------------------------------------------

    def _every(self, channel: ChannelConfig) -> float:
        return option(channel, "reconcile_every_s", self.every_s)

    async def _find_shards(self) -> None:
        """Adopt the shards' handles off the event loop (finding a missing shard creates it and
        waits for it: Ray calls that block, which the loop's timers and callers must not wait on)."""
        self.shards.handles = await asyncio.to_thread(self._shard_handles)

    async def _shards_ready(self) -> None:
        """Wait for ``_find_shards``, starting it again if it failed (Ray or Redis was down)."""
        found = self._shards_found
        if found is None or (found.done() and (found.cancelled() or found.exception() is not None)):
            found = self._shards_found = self._tasks.spawn(self._find_shards())
        await asyncio.shield(found)

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

    async def _channel(self, cid: str) -> Any:
        """The channel's actor (``ValueError`` if it has none); the lookup is a blocking GCS call."""
        name = channel_name(self.config.store.key_prefix, cid)
        return await asyncio.to_thread(ray.get_actor, name, namespace=NAMESPACE)

    async def _correct(
        self, cid: str, fixes: dict[str, dict[str, Any]], observed_at: float
    ) -> dict[str, str]:
        """Hand corrections to the channel's actor, found when they are ready: a channel whose
        actor is missing fails its own comparison step, not the run's other channels."""
        handle = await self._channel(cid)
        answer: dict[str, str] = await handle.correct.remote(fixes, observed_at)
        return answer

    # -- reconciliation -----------------------------------------------------------------------------

    def _targets(self, channel_id: str | None) -> list[str]:
        targets = list(self.channels) if channel_id is None else [channel_id]
        for cid in targets:
            if cid not in self.channels:
                raise KeyError(f"no reconcilable channel {cid!r}")
        return targets

    async def start_reconcile(self, channel_id: str | None = None) -> dict[str, Any]:
        """Start a manual run for ``channel_id`` (or every channel), or join the one in flight.

        ``{"run": status, "joined": bool}``, or ``{"busy": status}`` when a manual run for other
        channels is in flight (at most one is: see ``actors.reconcile_runs``). Every channel's
        orders are backfilled, whichever channel is reconciled (see ``actors.reconcile_run``).
        Raises ``KeyError`` for a channel that is not configured or whose kind cannot be reconciled.
        """
        try:
            run, joined = self.runs.start(self._targets(channel_id), channel_id, "manual")
        except RunBusy as busy:
            return {"busy": busy.run.to_json()}
        return {"run": run.to_json(), "joined": joined}

    async def wait_run(self, run_id: str, timeout_s: float = 0.0) -> dict[str, Any] | None:
        """A run's status once it has ended or after ``timeout_s``; None for an unknown id."""
        run = await self.runs.wait(run_id, timeout_s)
        return None if run is None else run.to_json()

    async def cancel_run(self, run_id: str) -> dict[str, Any] | None:
        """Cancel a run (what it did stays in its reports); its status once settled, None if unknown."""
        if self.runs.cancel(run_id) is None:
            return None
        return await self.wait_run(run_id, 10.0)

    async def recent_runs(self) -> list[dict[str, Any]]:
        """The runs kept in memory, newest first, without their reports."""
        return [r.to_json(reports=False) for r in self.runs.recent()]

    async def reconcile(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Start (or join) a manual run and wait for its end; its drift reports. Raises ``RunBusy``."""
        run, _ = self.runs.start(self._targets(channel_id), channel_id, "manual")
        await self.runs.wait(run.id, run.deadline_s + 60.0)
        return [r.to_json() for r in run.reports.values()]

    async def _execute(self, run: Run) -> None:
        try:
            await self._shards_ready()
            await Pass(run, {cid: self._reconciler(cid) for cid in self.channels}, self.client, self.shards)()
        finally:
            now = time.time()
            for cid in run.targets:
                self.next_run[cid] = now + self._every(self.channels[cid])

    def _reconciler(self, cid: str) -> ChannelReconciler:
        channel = self.channels[cid]
        rate = (channel.rate_limit.per_second, channel.rate_limit.burst) if channel.rate_limit else None
        rate = rate or outbound_for(channel).default_rate
        if cid not in self.buckets:
            self.buckets[cid] = reading_bucket(channel, rate)
        return ChannelReconciler(
            channel,
            adapter_for(channel.kind).RECONCILE,
            rate,
            self.shards,
            self.store,
            lambda fixes, observed_at: self._correct(cid, fixes, observed_at),
            bucket=self.buckets[cid],
        )

    async def reports(self) -> dict[str, dict[str, Any]]:
        """The last drift report of every channel (from Redis: survives restarts)."""
        return await self.store.reports()

    async def _schedule(self) -> None:
        """Start each due run beside any manual one (never behind it), one scheduled run at a time.

        Channels the manual run in flight covers are left to it: it moves their next run when it ends.
        """
        while True:
            now, manual = time.time(), self.runs.manual
            busy = set(manual.targets) if manual is not None and manual.status == "running" else set()
            due = [
                cid
                for cid, c in self.channels.items()
                if self._every(c) > 0 and self.next_run[cid] <= now and cid not in busy
            ]
            if due:
                run, _ = self.runs.start(due, None, "scheduled")
                await self.runs.wait(run.id, run.deadline_s + 60.0)
                if run.status not in ("done", "running"):
                    log.warning("scheduled reconcile of %s: %s %s", ", ".join(due), run.status, run.reason)
            waits = [
                t - time.time() for cid, t in self.next_run.items() if self._every(self.channels[cid]) > 0
            ]
            await asyncio.sleep(max(1.0, min([60.0, *waits])) if waits else 60.0)

    # -- health and dead letters --------------------------------------------------------------------

    async def _every_health(self, step: Callable[[], Awaitable[Any]]) -> None:
        """Health checks and redrives on loops of their own: a channel actor slow to answer a
        redrive must not stop the checks that ``/healthz`` reads (it would go stale, then 503)."""
        while True:
            try:
                await step()
            except Exception:  # the next round tries again; each channel's own failures are in its entry
                log.exception("supervisor: %s failed", getattr(step, "__name__", step))
            await asyncio.sleep(self.health_every_s)

    async def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """Ping every shard and channel actor, recreate missing ones, and return the view
        (``actors.health.check``); the shard client adopts recreated shards."""
        try:
            view, handles = await check(self.config, self.redis_url, self.fan_out, timeout_s)
        except Exception as exc:  # recreating a missing actor failed: still report each one's answer
            view, handles = await self._pings(timeout_s, f"{type(exc).__name__}: {exc}"), None
        if handles is not None:
            self.shards.handles = list(handles)
        self.last_health = view
        return view

    async def _pings(self, timeout_s: float, error: str) -> dict[str, Any]:
        """The health view from pings alone, every actor asked on its own, naming ``error``."""
        prefix = self.config.store.key_prefix
        shards = {str(i): shard_name(prefix, i) for i in range(self.config.engine.shards)}
        channels = {c.id: channel_name(prefix, c.id) for c in self.config.channels if can_push(c)}
        return {
            "status": "degraded",
            "shards": await _ping_all(shards, timeout_s),
            "channels": await _ping_all(channels, timeout_s),
            "recreated": [],
            "error": error,
            "checked_at": time.time(),
        }

    async def health_view(self) -> dict[str, Any]:
        """The last health check's result, without checking again (cheap: for ``/healthz``).

        ``age_s`` (on this actor's clock, so a caller on another node needs no synchronised clock)
        and ``every_s`` let a caller see that the checks themselves have stopped.
        """
        age = time.time() - float(self.last_health.get("checked_at") or 0.0)
        return {**self.last_health, "age_s": round(age, 3), "every_s": self.health_every_s}

    async def redrive_dead_letters(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """Redrive each channel's dead letters when its backoff allows; report what stays dead.

        Channels are asked concurrently and each on its own: one whose actor is missing, down or
        slower than ``timeout_s`` is named in its entry (``unreachable``) and the others are
        redriven all the same. Retry-safe: a redrive re-queues each dead SKU's newest target
        (``ChannelActor.dlq_redrive``).
        """
        ids = [c.id for c in self.config.channels if can_push(c)]  # the others have no actor
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(self._redrive(cid), timeout_s) for cid in ids), return_exceptions=True
        )
        self.unreachable = {
            cid: f"{type(out).__name__}: {out}".rstrip(": ")
            for cid, out in zip(ids, outcomes, strict=True)
            if isinstance(out, BaseException)
        }
        for cid, why in self.unreachable.items():
            log.warning("dead letters of channel %s not redriven: %s", cid, why)
        return await self.dead_letters()

    async def _redrive(self, cid: str) -> None:
        handle = await self._channel(cid)
        entries = await handle.dlq_list.remote(1000)
        if self.redrive.due(cid, entries):
            result = await handle.dlq_redrive.remote()
            self.redrive.redriven(cid, result)

    async def dead_letters(self) -> dict[str, Any]:
        """What stays dead per channel: entries, SKUs, the last error, redrive attempts, next
        redrive, and ``unreachable`` (why) for a channel whose actor did not answer the last redrive."""
        report = self.redrive.report()
        for cid, why in self.unreachable.items():
            report[cid] = {**report.get(cid, {}), "unreachable": why}
        return report

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.runs.cancel_all()
        self._tasks.cancel()
        await self.client.aclose()
        await self.redis.aclose()


async def _ping_all(names: dict[str, str], timeout_s: float) -> dict[str, bool]:
    answers = await asyncio.gather(*(ping(n, timeout_s) for n in names.values()))
    return dict(zip(names, answers, strict=True))


def _can_reconcile(channel: ChannelConfig) -> bool:
    try:
        return getattr(adapter_for(channel.kind), "RECONCILE", None) is not None
    except KeyError:
        return False
