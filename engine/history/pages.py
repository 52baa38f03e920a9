"""Pages of history, newest first: PostgreSQL's archive merged with the tail Redis still holds.

Which rows a page sees, and why none is missed: a page reads (1) each vshard's archive cursor from
PostgreSQL, (2) every stream's entries after that cursor from Redis (the tail), (3) its rows from
PostgreSQL. An entry at or below the cursor of (1) was committed before (3) runs; an entry above it
is in the tail, unless it was trimmed before (2), and Redis trims only what PostgreSQL committed,
so then (3) finds it. Rows found twice are one (same position). A tail too long to read whole
(``TAIL_CAP``: the archiver is far behind) makes the page fail with ``HistoryBehind`` rather than
answer with a gap.

Cursors are opaque strings naming the last row's position ``(ms, seq, vshard)``; the next page has
the rows strictly older. Rows added meanwhile are newer (Redis ids only grow), so paging on while
they arrive returns every row once.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis.asyncio as aioredis

from engine.history.archive import Archive, order_rows
from engine.history.streams import Entry, Position, read_tails, vshards_of
from engine.history.versions import SELECT_VERSIONS, Row, documents, merge, version_rows
from engine.store.keys import Keys

TAIL_CAP = 50_000
"""Unarchived entries a page reads from Redis at most (normally the archiver leaves well under a
second's worth)."""
MAX_ROUNDS = 20
"""Rounds of order candidates one orders page reads while a status filter drops them."""
NEWEST: Position = (2**62, 0, 2**31)
"""Above every position: the first page's bound."""


class HistoryBehind(Exception):
    """The archiver is so far behind that the unarchived tail is over ``TAIL_CAP`` entries."""


class BadCursor(ValueError):
    """A cursor this module did not make."""


def encode_cursor(pos: Position) -> str:
    return base64.urlsafe_b64encode(f"h1.{pos[0]}.{pos[1]}.{pos[2]}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        tag, ms, seq, vs = raw.split(".")
        if tag != "h1":
            raise ValueError(tag)
        return int(ms), int(seq), int(vs)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("cursor is not one this server made") from None


@dataclass(frozen=True)
class AuditFilter:
    sku: str | None = None
    order_id: str | None = None
    channel: str | None = None
    since: float | None = None

    def matches(self, d: dict[str, Any]) -> bool:
        at = d.get("at")
        return (
            (self.sku is None or d.get("sku") == self.sku)
            and (self.order_id is None or d.get("order_id") == self.order_id)
            and (self.channel is None or d.get("channel") == self.channel)
            and (self.since is None or (isinstance(at, int | float) and at >= self.since))
        )

    def sql(self) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("sku", self.sku), ("order_id", self.order_id), ("channel", self.channel)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(value)
        if self.since is not None:
            where.append("at >= %s")
            args.append(self.since)
        return where, args


@dataclass
class OrderCandidate:
    """An order by its newest activity: what ``GET /v1/orders`` resolves into a view."""

    channel: str
    order_id: str
    position: Position
    at: float | None
    vshards: set[int] = field(default_factory=set)
    versions: list[dict[str, Any]] = field(default_factory=list)
    """Every version of the order, oldest first (``engine.history.versions.documents``)."""


Resolve = Callable[[list[OrderCandidate]], Awaitable[list[dict[str, Any]]]]
"""Candidates (versions filled) to their views, dropping those a filter leaves out."""


class HistoryPages:
    """Pages of one deployment's history (PostgreSQL connection, Redis client, key layout)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], redis: aioredis.Redis, keys: Keys, vshards: int):
        self.conn, self.redis, self.keys = conn, redis, keys
        self.vshards = vshards_of(vshards)

    async def _tail(self) -> list[Entry]:
        cursors = await Archive(self.conn).cursors()
        tail = await read_tails(self.redis, self.keys, cursors, self.vshards, TAIL_CAP, first=256)
        if tail.truncated:
            raise HistoryBehind(f"over {TAIL_CAP} audit entries are not archived yet")
        return tail.all()

    async def audit(self, flt: AuditFilter, limit: int, cursor: str | None) -> tuple[list[Entry], str | None]:
        """Up to ``limit`` entries older than ``cursor``, newest first, and the next page's cursor."""
        below = decode_cursor(cursor) if cursor else NEWEST
        tail = [e for e in await self._tail() if e.position < below and flt.matches(e.doc)]
        where, args = flt.sql()
        where.append("(ms, seq, vshard) < (%s, %s, %s)")
        sql = (
            "SELECT vshard, ms, seq, doc FROM audit_entries WHERE " + " AND ".join(where)
            + " ORDER BY ms DESC, seq DESC, vshard DESC LIMIT %s"
        )  # fmt: skip
        cur = await self.conn.execute(sql.encode(), [*args, *below, limit + 1])
        rows = {e.position: e for e in tail}
        for vs, ms, seq, doc in await cur.fetchall():
            rows.setdefault((ms, seq, vs), Entry(vs, ms, seq, doc))
        page = [rows[p] for p in sorted(rows, reverse=True)]
        more = len(page) > limit
        page = page[:limit]
        return page, encode_cursor(page[-1].position) if more else None

    async def orders(
        self, channel: str | None, since: float | None, limit: int, cursor: str | None, resolve: Resolve
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` order views older (by newest activity) than ``cursor``, and the next
        cursor. ``resolve`` turns candidates into views, dropping those it filters out (status);
        a page keeps reading candidates until it is full, for at most ``MAX_ROUNDS`` rounds."""
        below = decode_cursor(cursor) if cursor else NEWEST
        tail = await self._tail()
        out: list[dict[str, Any]] = []
        for _ in range(MAX_ROUNDS):
            cands, more = await self._candidates(tail, channel, since, limit - len(out), below)
            await self._versions(cands, tail)
            out += await resolve(cands)
            if not more:
                return out, None
            below = cands[-1].position
            if len(out) >= limit:
                break
        return out, encode_cursor(below)

    async def _versions(self, cands: list[OrderCandidate], tail: list[Entry]) -> None:
        """Fill each candidate's versions: PostgreSQL's rows merged with the tail's, as the
        archiver will merge them (one query for the page)."""
        if not cands:
            return
        cur = await self.conn.execute(
            SELECT_VERSIONS, ([c.channel for c in cands], [c.order_id for c in cands])
        )
        rows: list[Row] = [tuple(r) for r in await cur.fetchall()]
        wanted = {(c.channel, c.order_id) for c in cands}
        rows += [r for r in version_rows(tail) if (r[0], r[1]) in wanted]
        by_order = merge(rows)
        for c in cands:
            c.versions = documents(by_order.get((c.channel, c.order_id), []))

    async def _candidates(
        self, tail: list[Entry], channel: str | None, since: float | None, n: int, below: Position
    ) -> tuple[list[OrderCandidate], bool]:
        """The ``n`` orders newest by activity below ``below``, and whether more exist.

        An order's activity is the newest of its archived row and its tail entries; an order whose
        newest activity is at or above ``below`` was on an earlier page (or moved up since) and is
        left out wherever its older entries are.
        """
        recent = {(r[0], r[1]): r for r in order_rows(tail)}
        found: dict[tuple[str, str], OrderCandidate] = {}
        where = ["(ms, seq, vshard) < (%s, %s, %s)"]
        args: list[Any] = [*below]
        if channel is not None:
            where.append("channel = %s")
            args.append(channel)
        if since is not None:
            where.append("at >= %s")
            args.append(since)
        sql = (
            "SELECT channel, order_id, ms, seq, vshard, at, vshards FROM orders WHERE " + " AND ".join(where)
            + " ORDER BY ms DESC, seq DESC, vshard DESC LIMIT %s"
        )  # fmt: skip
        cur = await self.conn.execute(sql.encode(), [*args, n + len(recent) + 1])
        archived = await cur.fetchall()
        if recent:
            cur = await self.conn.execute(
                "SELECT channel, order_id, ms, seq, vshard, at, vshards FROM orders"
                " WHERE (channel, order_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([k[0] for k in recent], [k[1] for k in recent]),
            )
            archived += await cur.fetchall()
        for ch, oid, ms, seq, vs, at, vss in [*archived, *recent.values()]:
            pos = (ms, seq, vs)
            c = found.get((ch, oid))
            if c is None:
                found[(ch, oid)] = OrderCandidate(ch, oid, pos, at, set(vss))
                continue
            c.vshards.update(vss)
            if pos > c.position:
                c.position, c.at = pos, at
        keep = [
            c
            for c in found.values()
            if c.position < below
            and (channel is None or c.channel == channel)
            and (since is None or (c.at is not None and c.at >= since))
        ]
        keep.sort(key=lambda c: c.position, reverse=True)
        return keep[:n], len(keep) > n
