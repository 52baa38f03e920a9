"""What one health refresh asks: this gateway's shards, and the supervisor's own last check.

The supervisor already pings every shard and channel actor on its own schedule; the gateway reads
that view (one call) rather than repeating it, and pings only the shards it decides through, which
it cannot serve without. A deployment without a supervisor (tests, the benchmark stack) is judged
by its shards alone, but once this gateway has seen a supervisor, losing it is a failure: its
reconciliation, redrives and actor recreation stopped with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette

from actors.gateway.health_cache import PROBE_TIMEOUT_S, STALE_AFTER, Health, HealthCache
from actors.gateway.state import Gateway
from actors.gateway.supervisor_handle import forget_supervisor, supervisor_handle


class GatewayProbe:
    """The ``Probe`` of one gateway app."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.seen_supervisor = False

    async def __call__(self) -> Health:
        gateway: Gateway = self.app.state.gateway
        shards_ok, view = await asyncio.gather(gateway.shards.ping_async(PROBE_TIMEOUT_S), self._view())
        if not shards_ok:
            return Health(False, "a shard is not answering", {"supervisor": view})
        if view is None:
            if self.seen_supervisor:
                return Health(False, "the supervisor is not answering")
            return Health(True)
        return judge_view(view, gateway.config.history.max_lag_s)

    async def _view(self) -> dict[str, Any] | None:
        handle = await supervisor_handle(self.app)
        if handle is None:
            return None
        self.seen_supervisor = True
        try:
            view: dict[str, Any] = await asyncio.wait_for(handle.health_view.remote(), PROBE_TIMEOUT_S)
        except Exception:  # dead or hung: looked up again next time (a restarted one has a new handle)
            forget_supervisor(self.app)
            return None
        return view


def judge_view(view: dict[str, Any], max_lag_s: float | None = None) -> Health:
    """The supervisor's view: its last check found an actor down, or its checks stopped; a
    history archiver that is down or lags over ``max_lag_s`` only warns (sales go on, Redis
    holds the backlog)."""
    if view.get("status") == "degraded":
        return Health(False, "an actor is not answering the supervisor", {"supervisor": view})
    age, every = view.get("age_s"), view.get("every_s")
    if isinstance(age, int | float) and isinstance(every, int | float) and age > STALE_AFTER * every + 10:
        return Health(False, "the supervisor's health checks stopped", {"supervisor": view})
    return Health(True, detail={"supervisor": view}, warning=archiver_warning(view, max_lag_s))


def archiver_warning(view: dict[str, Any], max_lag_s: float | None) -> str:
    archiver = view.get("archiver")
    if not isinstance(archiver, dict):
        return ""
    if not archiver.get("alive"):
        return "the history archiver is not answering"
    lost = archiver.get("lost")
    if isinstance(lost, int) and lost > 0:
        return f"history lost {lost} audit entries (trimmed before archiving: raise history.max_backlog)"
    lag = archiver.get("lag_s")
    if max_lag_s is not None and isinstance(lag, int | float) and lag > max_lag_s:
        return f"history archiving is {lag:.0f} s behind"
    return ""


def health_cache_of(app: Starlette) -> HealthCache:
    """The app's cache, made on first use (its refresher starts with the first ``/healthz``)."""
    cache: HealthCache | None = getattr(app.state, "health_cache", None)
    if cache is None:
        cache = app.state.health_cache = HealthCache(GatewayProbe(app))
    return cache
