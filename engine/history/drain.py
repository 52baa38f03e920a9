"""One archiver round: read the streams' unarchived tails, store them, trim what is stored and old.

``actors.archiver`` runs rounds in a loop on a Ray actor; the round itself is here, with no Ray, so
tests can run it, stop it between its steps and run it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from engine.history.archive import Archive
from engine.history.streams import Cursor, Tail, read_tails, stream_key, vshards_of
from engine.store.keys import Keys

log = logging.getLogger(__name__)


@dataclass
class DrainStats:
    """What ``stats()`` reports. ``lag_s``: now minus the time of the oldest entry not stored yet
    (0 when the last read found none); ``backlog``: entries the last read found unstored (exact
    unless ``backlog_exact`` is False: then more were left unread)."""

    archived: int = 0
    rounds: int = 0
    trimmed: int = 0
    lag_s: float = 0.0
    backlog: int = 0
    backlog_exact: bool = True
    errors: int = 0
    lost: int = 0
    """Entries a stream dropped (trimmed by its cap) before they were stored, seen by this archiver."""
    last_error: str | None = None
    last_round_at: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Drain:
    """Rounds over one deployment's streams (``vshards`` of them, and the refused lines' stream)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        vshards: int,
        batch: int,
        keep_in_redis_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.keys, self.batch = redis, keys, batch
        self.vshards = vshards_of(vshards)
        self.keep_ms = int(keep_in_redis_s * 1000)
        self.clock = clock
        self.cursors: dict[int, Cursor] | None = None
        """What PostgreSQL confirmed, as last read or written; ``None``: read it again first."""
        self.stats = DrainStats()

    async def round(self, archive: Archive) -> bool:
        """Archive one batch; True when more is waiting (the caller goes on without pausing).

        May await between its steps (Redis read, PostgreSQL commit, Redis trim): a crash between any
        two re-sends the batch next time, which the archive ignores (``engine.history.archive``).
        Assumes nothing about other archivers: cursors only move forward and trims stop at them.
        """
        if self.cursors is None:
            self.cursors = await archive.cursors()
        tail = await self.observe()
        await self.check_losses(tail, archive)
        entries, now = tail.all(), self.clock()
        if entries:
            inserted, committed = await archive.write(entries)
            self.cursors.update(committed)
            self.stats.archived += inserted
        self.stats.trimmed += await self.trim(now)
        self.stats.rounds += 1
        self.stats.last_round_at = now
        if entries and not tail.truncated:
            self.stats.backlog, self.stats.lag_s = 0, 0.0
        return bool(tail.truncated)

    async def observe(self) -> Tail:
        """Read what is not stored yet (after the cursors last confirmed; from the streams' start if
        PostgreSQL never answered) and report it as ``lag_s`` and ``backlog``. Changes nothing."""
        tail = await read_tails(self.redis, self.keys, self.cursors or {}, self.vshards, self.batch)
        entries = tail.all()
        self.stats.backlog, self.stats.backlog_exact = len(entries), not tail.truncated
        self.stats.lag_s = max(0.0, self.clock() - min(e.ms for e in entries) / 1000) if entries else 0.0
        return tail

    async def check_losses(self, tail: Tail, archive: Archive) -> int:
        """Entries trimmed from a stream before they were stored; counted, logged, remembered.

        Every entry a stream ever took (Redis's ``entries-added``) was stored, is still in the
        stream, or was dropped. Trims take the oldest first, so an unstored entry can be gone only
        when nothing at or below the cursor is left (the stream's first entry is past it); then
        every entry in the stream is unstored and ``dropped = added - stored - length``. What a
        stream had dropped when first looked at (entries trimmed before history was configured) is
        its baseline, not a loss. ``stored`` is read after the snapshot, so a concurrent archiver's
        commit can only make the figure smaller: a loss is never reported that did not happen.
        """
        suspects = [
            vs
            for vs, m in tail.meta.items()
            if m.added >= 0 and m.first > (self.cursors or {}).get(vs, (0, 0))
        ]
        if not suspects:
            return 0
        counts = await archive.counts(suspects)
        lost = 0
        for vs in suspects:
            meta, (stored, before) = tail.meta[vs], counts.get(vs, (0, None))
            dropped = meta.added - stored - meta.length
            if before is not None and dropped > before:
                lost += dropped - before
                log.error(
                    "history: stream of vshard %s dropped %s entries before they were stored",
                    vs,
                    dropped - before,
                )
            if before is None or dropped > before:
                await archive.set_dropped(vs, dropped)
        self.stats.lost += lost
        return lost

    async def trim(self, now: float) -> int:
        """Trim each stream below the older of its stored cursor and the keep window.

        ``XTRIM MINID`` removes ids below the one given: ``<ms>-<seq + 1>`` keeps everything after
        the cursor, ``<now - keep>-0`` everything within the window. The window is measured on the
        archiver's clock against Redis ids (Redis time); a skew between them only shifts it.
        """
        if self.cursors is None:
            return 0
        horizon = (int(now * 1000) - self.keep_ms, 0)
        pipe = self.redis.pipeline(transaction=False)
        trimmed: list[int] = []
        for vs, (ms, seq) in self.cursors.items():
            if vs not in self.vshards:
                continue
            floor = min((ms, seq + 1), horizon)
            if floor <= (0, 0):
                continue
            pipe.xtrim(stream_key(self.keys, vs), minid=f"{floor[0]}-{floor[1]}", approximate=False)
            trimmed.append(vs)
        if not trimmed:
            return 0
        return int(sum(await pipe.execute()))
