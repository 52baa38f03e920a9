"""``/healthz`` from a cached state: one refresher per gateway is the only caller of the actors.

Why: ``/healthz`` needs no token (load balancers call it), and answering each call by asking every
shard and the supervisor let anyone turn request rate into actor load (362 calls/s raised webhook
p99 from 10 to 142 ms). Here a refresher asks them once per ``interval_s`` whatever the request
rate, and each call reads the last result. A result older than ``stale_after`` intervals is not
trusted: it answers 503, so a refresher that stopped (or actors that hang past the probe timeouts)
cannot keep a dead gateway in a load balancer's pool.

The refresher starts with the first call and stops after ``idle_after`` intervals without one; a
gateway nobody health-checks asks nothing. The first call after a (re)start waits for a fresh result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("skusync.gateway")

INTERVAL_S = 1.0
STALE_AFTER = 3
IDLE_AFTER = 300
PROBE_TIMEOUT_S = 2.0
"""Each actor call of a refresh gives up after this; a refresh takes at most about twice it."""


@dataclass(frozen=True)
class Health:
    """One refresh's finding: ``reason`` says what is wrong, in words safe to show without a token."""

    ok: bool
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    """For operators (the admin routes), never in the unauthenticated answer."""
    warning: str = ""
    """Serving, but something needs a look (history archiving behind): 200 ``degraded``."""


Probe = Callable[[], Awaitable[Health]]


class HealthCache:
    """The last ``Health`` and when it was found; ``answer()`` is what ``/healthz`` returns."""

    def __init__(
        self,
        probe: Probe,
        interval_s: float = INTERVAL_S,
        stale_after: int = STALE_AFTER,
        idle_after: int = IDLE_AFTER,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.probe, self.interval_s = probe, interval_s
        self.stale_after, self.idle_after = stale_after, idle_after
        self.clock, self.sleep = clock, sleep
        self.last: Health | None = None
        self.found_at: float | None = None
        self.asked_at = clock()
        self.refreshes = 0
        self.task: asyncio.Task[None] | None = None
        self.first = asyncio.Event()

    async def answer(self) -> tuple[int, dict[str, Any]]:
        """``(status, body)``: 200 ``{"status": "ok"}`` from a fresh healthy result, else 503."""
        self.asked_at = self.clock()
        if self.task is None or self.task.done():
            self.first = asyncio.Event()
            loop = asyncio.get_running_loop()
            self.task = loop.create_task(self._refresh_forever(), name="health-refresher")
        if not self.first.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.first.wait(), 2 * PROBE_TIMEOUT_S + 1.0)
        return self.judge()

    def judge(self) -> tuple[int, dict[str, Any]]:
        """The answer from the cached state alone (no actor call)."""
        if self.last is None or self.found_at is None:
            return 503, {"status": "unavailable", "reason": "health not checked yet"}
        age = self.clock() - self.found_at
        if age > self.stale_after * self.interval_s:
            return 503, {"status": "unavailable", "reason": f"health last checked {age:.0f} s ago"}
        if not self.last.ok:
            return 503, {"status": "unavailable", "reason": self.last.reason}
        if self.last.warning:
            return 200, {"status": "degraded", "reason": self.last.warning}
        return 200, {"status": "ok"}

    async def refresh(self) -> None:
        """Ask the actors once; a probe that fails leaves the state to go stale."""
        try:
            self.last = await self.probe()
        except Exception:
            log.exception("health refresh failed")
            return
        finally:
            self.first.set()
        self.found_at = self.clock()
        self.refreshes += 1

    async def _refresh_forever(self) -> None:
        while self.clock() - self.asked_at <= self.idle_after * self.interval_s:
            await self.refresh()
            await self.sleep(self.interval_s)
