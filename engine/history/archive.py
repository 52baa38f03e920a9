"""Writing stream entries to PostgreSQL: one transaction per batch, each entry stored once.

Exactly once without coordination with Redis: a row's key is the entry's own identity (vshard,
stream id), inserted with ``ON CONFLICT DO NOTHING``, and each vshard's cursor (the newest id
stored) moves in the same transaction. A crash between PostgreSQL's commit and Redis's trim, an
archiver restarted from an older cursor, or two archivers running at once during a replacement
only send entries again, and PostgreSQL ignores them. Redis trims only at or below a cursor
PostgreSQL has committed, so an entry leaves Redis only once it is stored.

The same transaction keeps the orders' rows (newest activity) and their versions
(``engine.history.versions``); both are merges a re-sent batch leaves as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from engine.history.streams import INVALID_VSHARD, Cursor, Entry
from engine.history.versions import UPSERT_VERSION, db_rows, version_rows

INSERT_ENTRY = """
INSERT INTO audit_entries (vshard, ms, seq, at, sku, order_id, channel, kind, key, version, outcome, doc)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
RETURNING vshard
"""
# Newest activity and the vshards an order spans: max and union, so a re-sent batch changes nothing.
UPSERT_ORDER = """
INSERT INTO orders AS o (channel, order_id, ms, seq, vshard, at, vshards)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (channel, order_id) DO UPDATE SET
    ms = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) > (o.ms, o.seq, o.vshard)
              THEN excluded.ms ELSE o.ms END,
    seq = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) > (o.ms, o.seq, o.vshard)
               THEN excluded.seq ELSE o.seq END,
    at = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) > (o.ms, o.seq, o.vshard)
              THEN excluded.at ELSE o.at END,
    vshard = CASE WHEN (excluded.ms, excluded.seq, excluded.vshard) > (o.ms, o.seq, o.vshard)
                  THEN excluded.vshard ELSE o.vshard END,
    vshards = ARRAY(SELECT DISTINCT v FROM unnest(o.vshards || excluded.vshards) AS v ORDER BY v)
"""
UPSERT_CURSOR = """
INSERT INTO archive_cursors AS c (vshard, ms, seq, stored) VALUES (%s, %s, %s, %s)
ON CONFLICT (vshard) DO UPDATE SET
    ms = CASE WHEN (excluded.ms, excluded.seq) > (c.ms, c.seq) THEN excluded.ms ELSE c.ms END,
    seq = CASE WHEN (excluded.ms, excluded.seq) > (c.ms, c.seq) THEN excluded.seq ELSE c.seq END,
    stored = c.stored + excluded.stored,
    updated_at = now()
"""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def entry_row(e: Entry) -> tuple[Any, ...]:
    d = e.doc
    return (
        e.vshard, e.ms, e.seq, _float(d.get("at")), _text(d.get("sku")), _text(d.get("order_id")),
        _text(d.get("channel")), _text(d.get("kind")), _text(d.get("key")), _int(d.get("version")),
        _text(d.get("outcome")), Jsonb(d, dumps=lambda v: orjson.dumps(v).decode()),
    )  # fmt: skip


def order_rows(entries: Iterable[Entry]) -> list[tuple[Any, ...]]:
    """One row per (channel, order id) the entries name, with its newest position and vshards.

    Only the vshards' streams make orders (as ``GET /v1/orders`` on Redis does); rows sorted by
    key, so concurrent writers lock orders in one order and never deadlock.
    """
    newest: dict[tuple[str, str], tuple[tuple[int, int, int], float | None, set[int]]] = {}
    for e in entries:
        ch, oid = e.doc.get("channel"), e.doc.get("order_id")
        if e.vshard == INVALID_VSHARD or not isinstance(ch, str) or not isinstance(oid, str):
            continue
        if not isinstance(e.doc.get("sku"), str):
            continue
        pos, at, vss = newest.get((ch, oid), ((-1, -1, -1), None, set()))
        vss.add(e.vshard)
        if e.position > pos:
            pos, at = e.position, _float(e.doc.get("at"))
        newest[(ch, oid)] = (pos, at, vss)
    return [(ch, oid, p[0], p[1], p[2], at, sorted(v)) for (ch, oid), (p, at, v) in sorted(newest.items())]


class Archive:
    """The archive tables of one database, through one connection (autocommit; see ``migrations``)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def cursors(self) -> dict[int, Cursor]:
        """Per vshard, the newest stream id stored (vshards never archived are absent)."""
        cur = await self.conn.execute("SELECT vshard, ms, seq FROM archive_cursors")
        return {int(vs): (int(ms), int(seq)) for vs, ms, seq in await cur.fetchall()}

    async def counts(self, vshards: list[int]) -> dict[int, tuple[int, int | None]]:
        """Per vshard: entries stored from its stream, and what it had dropped unstored when last
        looked at (None: never looked at). Vshards never archived are absent."""
        cur = await self.conn.execute(
            "SELECT vshard, stored, dropped FROM archive_cursors WHERE vshard = ANY(%s)", (vshards,)
        )
        return {int(vs): (int(n), None if d is None else int(d)) for vs, n, d in await cur.fetchall()}

    async def set_dropped(self, vshard: int, dropped: int) -> None:
        """Remember what the stream had dropped unstored (a vshard never archived gets a row at
        cursor 0-0, which moves and trims nothing)."""
        await self.conn.execute(
            "INSERT INTO archive_cursors AS c (vshard, ms, seq, dropped) VALUES (%s, 0, 0, %s)"
            " ON CONFLICT (vshard) DO UPDATE SET dropped = GREATEST(c.dropped, excluded.dropped)",
            (vshard, dropped),
        )

    async def write(self, entries: list[Entry]) -> tuple[int, dict[int, Cursor]]:
        """Store ``entries`` and move their vshards' cursors, in one transaction.

        Returns the rows inserted now (entries already stored are not counted) and the cursors
        as committed (a cursor never moves back, whatever order batches land in). Retry-safe: the
        same batch again inserts nothing and moves nothing.
        """
        if not entries:
            return 0, {}
        newest: dict[int, Cursor] = {}
        for e in entries:
            if (e.ms, e.seq) > newest.get(e.vshard, (-1, -1)):
                newest[e.vshard] = (e.ms, e.seq)
        rows = sorted((entry_row(e) for e in entries), key=lambda r: (r[0], r[1], r[2]))
        async with self.conn.transaction(), self.conn.cursor() as cur:
            # RETURNING says which rows each vshard really added: a re-sent row conflicts and
            # returns nothing, so archive_cursors.stored counts each stream's entries exactly
            await cur.executemany(INSERT_ENTRY, rows, returning=True)
            added: dict[int, int] = {}
            while True:
                for (vs,) in await cur.fetchall():
                    added[vs] = added.get(vs, 0) + 1
                if not cur.nextset():
                    break
            inserted = sum(added.values())
            orders = order_rows(entries)
            if orders:
                await cur.executemany(UPSERT_ORDER, orders)
            versions = version_rows(entries)
            if versions:
                await cur.executemany(UPSERT_VERSION, db_rows(versions))
            await cur.executemany(
                UPSERT_CURSOR, [(vs, ms, seq, added.get(vs, 0)) for vs, (ms, seq) in sorted(newest.items())]
            )
            await cur.execute(
                "SELECT vshard, ms, seq FROM archive_cursors WHERE vshard = ANY(%s)", (sorted(newest),)
            )
            committed = {int(vs): (int(ms), int(seq)) for vs, ms, seq in await cur.fetchall()}
        return inserted, committed
