"""``Archiver``: drains the deployment's audit streams into PostgreSQL, then lets Redis trim them.

A thin async Ray actor around ``engine.history.drain.Drain``: one loop of rounds (read the tails
after PostgreSQL's cursors, store them in one transaction, trim what is stored and older than
``[history] keep_in_redis_s``), paced by ``interval_s`` once caught up. While PostgreSQL is down
the loop retries with backoff, trims nothing (nothing new is confirmed) and reports the backlog
in ``stats()``; Redis holds it meanwhile, up to ``history.max_backlog`` entries per stream.
Detached and ``max_restarts=-1`` (``actors.runtime.ensure_archiver``): a restart reads the cursors
again, and whatever the last activation sent but had not seen confirmed is sent again and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import psycopg
import ray
import redis.asyncio as aioredis

from actors.tasks import Tasks
from engine.backoff import Backoff
from engine.config import Config
from engine.history.archive import Archive
from engine.history.drain import Drain
from engine.history.migrations import connect
from engine.store.keys import Keys

log = logging.getLogger(__name__)


def masked(text: str, url: str) -> str:
    """``text`` without the URL or its password: errors end up in ``stats()``, logs and ``/healthz``."""
    secrets = [url]
    with contextlib.suppress(ValueError):
        if password := urlsplit(url).password:
            secrets.append(password)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@ray.remote(num_cpus=0)
class Archiver:
    """One deployment's archiver (see the module docstring). ``start=False`` builds it idle (tests)."""

    def __init__(self, config: Config, redis_url: str, start: bool = True) -> None:
        history = config.history
        url = history.url()
        if url is None:
            raise ValueError("the archiver needs [history] postgres_url")
        self.url, self.interval_s = url, history.interval_s
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=10)
        self.drain = Drain(
            self.redis, Keys(config.store.key_prefix), config.engine.vshards, history.batch,
            history.keep_in_redis_s,
        )  # fmt: skip
        self.backoff = Backoff(base_s=0.2, cap_s=10.0, max_attempts=1_000_000)
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.failures = 0
        self._tasks = Tasks()
        if start:
            with contextlib.suppress(RuntimeError):  # built off a loop (a unit test): no loop to run
                self._tasks.spawn(self._run())

    async def _run(self) -> None:
        while True:
            more = False
            try:
                more = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._failed(exc)
                continue
            if not more:
                await asyncio.sleep(self.interval_s)

    async def step(self) -> bool:
        """One round; True when more is waiting.

        May await before PostgreSQL commits (Redis read) and after (Redis trim); a failure at any
        await leaves the round to be run again, which re-sends at most what PostgreSQL ignores.
        Assumes nothing about ordering against other archivers: cursors only move forward.
        """
        if self.conn is None or self.conn.closed:
            self.conn = await connect(self.url)
            self.drain.cursors = None  # another archiver may have moved them meanwhile
        more = await self.drain.round(Archive(self.conn))
        self.failures = 0
        return more

    async def _failed(self, exc: Exception) -> None:
        """Count the failure, drop the connection, report the backlog, wait a backoff's delay."""
        stats = self.drain.stats
        stats.errors += 1
        stats.last_error = masked(f"{type(exc).__name__}: {exc}", self.url)[:500]
        log.warning("archiver: %s", stats.last_error)
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None
        with contextlib.suppress(Exception):  # Redis down too: the last figures stand
            await self.drain.observe()
        await asyncio.sleep(self.backoff.delay(min(self.failures, 8)))
        self.failures += 1

    async def stats(self) -> dict[str, Any]:
        """``archived`` (rows inserted by this activation), ``lag_s``, ``backlog`` (and whether it
        is exact), ``trimmed``, ``rounds``, ``errors``, ``lost`` (entries a stream's cap dropped
        before they were stored, seen by this activation), ``last_error`` (masked), ``connected``."""
        s = self.drain.stats
        return {
            "archived": s.archived,
            "lag_s": round(s.lag_s, 3),
            "backlog": s.backlog,
            "backlog_exact": s.backlog_exact,
            "trimmed": s.trimmed,
            "rounds": s.rounds,
            "errors": s.errors,
            "lost": s.lost,
            "last_error": s.last_error,
            "connected": self.conn is not None and not self.conn.closed,
            "last_round_age_s": None if s.last_round_at is None else round(time.time() - s.last_round_at, 3),
        }

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Stop the loop and close the connections. A round cut short is re-run by the next archiver."""
        self._tasks.cancel()
        if self.conn is not None:
            await self.conn.close()
        await self.redis.aclose()
