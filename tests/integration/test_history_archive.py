"""History in PostgreSQL without Ray: migrations, exactly-once archiving, trimming, paging.

Real PostgreSQL (a database of each test's own, dropped at the end) and the real Redis (a key
prefix of each test's own). Entries are written to the streams as ``commit.lua`` writes them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import pytest
import redis
import redis.asyncio as aioredis
from psycopg import sql

from engine.history.archive import Archive
from engine.history.drain import Drain
from engine.history.migrations import MIGRATIONS, connect, migrate
from engine.history.pages import AuditFilter, HistoryPages
from engine.history.streams import INVALID_VSHARD, stream_key
from engine.store.keys import Keys
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
VSHARDS = 4


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database ``skusync_t_<hex>``; its URL; dropped (connections and all) at exit."""
    name = f"skusync_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def entry(
    i: int, sku: str, order_id: str | None = None, channel: str | None = "shop", at: float = 0.0
) -> bytes:
    doc = {
        "key": f"ev-{i}", "kind": "order_placed" if order_id else "stock_set", "channel": channel,
        "order_id": order_id, "sku": sku, "delta": -1, "before": 10, "after": 9, "version": i,
        "outcome": "accepted", "at": at or 1_700_000_000.0 + i,
    }  # fmt: skip
    return orjson.dumps(doc)


def add(r: redis.Redis, keys: Keys, vshard: int, blob: bytes, entry_id: str = "*") -> str:
    return str(r.xadd(stream_key(keys, vshard), {"d": blob}, id=entry_id).decode())  # type: ignore[union-attr]


def stored(url: str) -> list[tuple[int, int, int]]:
    with psycopg.connect(url) as c:
        return [tuple(r) for r in c.execute("SELECT vshard, ms, seq FROM audit_entries").fetchall()]


def in_streams(r: redis.Redis, keys: Keys) -> set[tuple[int, int, int]]:
    out = set()
    for vs in [*range(VSHARDS), INVALID_VSHARD]:
        for raw, _ in r.xrange(stream_key(keys, vs)):  # type: ignore[union-attr]
            ms, seq = raw.decode().split("-")
            out.add((vs, int(ms), int(seq)))
    return out


async def drain_all(url: str, keys: Keys, batch: int = 7, keep_s: float = 3600.0, clock: Any = None) -> Drain:
    r = aioredis.Redis.from_url(REDIS_URL)
    conn = await connect(url)
    try:
        drain = Drain(r, keys, VSHARDS, batch, keep_s, **({"clock": clock} if clock else {}))
        while await drain.round(Archive(conn)):
            pass
        return drain
    finally:
        await conn.close()
        await r.aclose()


def schema(url: str) -> list[Any]:
    with psycopg.connect(url) as c:
        cols = c.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        idx = c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        versions = c.execute("SELECT version, reason FROM schema_migrations ORDER BY 1").fetchall()
    return [cols, idx, versions]


def test_migrations_run_twice_and_concurrently_end_in_the_same_schema(pg_url: str) -> None:
    async def run_once(url: str) -> list[int]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await migrate(conn)

    async def concurrently(url: str) -> list[list[int]]:
        return list(await asyncio.gather(*(run_once(url) for _ in range(6))))

    applied = asyncio.run(concurrently(pg_url))
    assert sorted(v for a in applied for v in a) == [m.version for m in MIGRATIONS]  # each once, by one
    assert asyncio.run(run_once(pg_url)) == []
    with fresh_database() as sequential:
        assert asyncio.run(run_once(sequential)) == [m.version for m in MIGRATIONS]
        assert asyncio.run(run_once(sequential)) == []
        assert schema(sequential) == schema(pg_url)


def test_the_same_batch_twice_and_a_crash_before_the_trim_store_each_entry_once(
    pg_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    for i in range(40):
        add(redis_client, keys, i % VSHARDS, entry(i, f"sku-{i % 9}", f"o{i % 5}"))
    add(redis_client, keys, INVALID_VSHARD, entry(99, "bad/sku"))
    written = in_streams(redis_client, keys)

    async def crash_after_commit() -> tuple[int, int]:
        r = aioredis.Redis.from_url(REDIS_URL)
        conn = await connect(pg_url)
        try:
            drain = Drain(r, keys, VSHARDS, 1000, 3600.0)
            tail = await drain.observe()
            first, _ = await Archive(conn).write(tail.all())
            again, _ = await Archive(conn).write(tail.all())  # the same batch twice
            return first, again
        finally:
            await conn.close()
            await r.aclose()

    first, again = asyncio.run(crash_after_commit())
    assert (first, again) == (len(written), 0)
    # "restart": a new archiver reads the cursors, finds nothing new; one from no cursor re-sends all
    assert asyncio.run(drain_all(pg_url, keys)).stats.archived == 0

    async def from_scratch() -> int:
        r = aioredis.Redis.from_url(REDIS_URL)
        conn = await connect(pg_url)
        try:
            drain = Drain(r, keys, VSHARDS, 1000, 3600.0)
            drain.cursors = {}
            await drain.round(Archive(conn))
            return drain.stats.archived
        finally:
            await conn.close()
            await r.aclose()

    assert asyncio.run(from_scratch()) == 0
    rows = stored(pg_url)
    assert len(rows) == len(set(rows)) and set(rows) == written
    with psycopg.connect(pg_url) as c:
        orders = c.execute("SELECT channel, order_id, vshards FROM orders ORDER BY 2").fetchall()
    assert [o[1] for o in orders] == [f"o{i}" for i in range(5)]
    assert all(o[2] == sorted({i % VSHARDS for i in range(40) if i % 5 == int(o[1][1:])}) for o in orders)


def test_redis_trims_only_archived_entries_older_than_the_keep_window(
    pg_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    old = [add(redis_client, keys, 0, entry(i, "a"), f"1000000-{i}") for i in range(10)]  # t = 1000 s
    recent = [add(redis_client, keys, 0, entry(i, "a"), f"1995000-{i}") for i in range(5)]  # t = 1995 s

    async def partly() -> None:  # one round of 4 entries: only those may go
        r = aioredis.Redis.from_url(REDIS_URL)
        conn = await connect(pg_url)
        try:
            drain = Drain(r, keys, VSHARDS, 4, 10.0, clock=lambda: 2000.0)
            await drain.round(Archive(conn))
        finally:
            await conn.close()
            await r.aclose()

    asyncio.run(partly())
    archived = {(ms, seq) for _, ms, seq in stored(pg_url)}
    left = [raw.decode() for raw, _ in redis_client.xrange(keys.audit(0))]  # type: ignore[union-attr]
    assert archived and len(archived) < 15
    assert set(old + recent) - set(left) == {f"{ms}-{seq}" for ms, seq in archived}  # trimmed = archived
    asyncio.run(drain_all(pg_url, keys, batch=4, keep_s=10.0, clock=lambda: 2000.0))
    left = [raw.decode() for raw, _ in redis_client.xrange(keys.audit(0))]  # type: ignore[union-attr]
    assert left == recent  # archived, but within the window: kept
    asyncio.run(drain_all(pg_url, keys, batch=4, keep_s=10.0, clock=lambda: 2006.0))
    assert redis_client.xlen(keys.audit(0)) == 0
    assert len(stored(pg_url)) == 15


def test_paging_returns_every_row_once_while_rows_arrive_and_filters_hold(
    pg_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    for i in range(60):
        add(redis_client, keys, i % VSHARDS, entry(i, f"sku-{i % 3}", f"o{i % 7}", at=1000.0 + i))
    asyncio.run(drain_all(pg_url, keys))  # 60 in PostgreSQL
    for i in range(60, 80):  # 20 only in Redis (the tail)
        add(redis_client, keys, i % VSHARDS, entry(i, f"sku-{i % 3}", f"o{i % 7}", at=1000.0 + i))
    existing = in_streams(redis_client, keys)

    async def pages_of(flt: AuditFilter, arriving: bool) -> list[tuple[int, int, int]]:
        r = aioredis.Redis.from_url(REDIS_URL)
        conn = await connect(pg_url)
        seen: list[tuple[int, int, int]] = []
        try:
            pages = HistoryPages(conn, r, keys, VSHARDS)
            cursor: str | None = None
            n = 0
            while True:
                page, cursor = await pages.audit(flt, 7, cursor)
                seen += [(e.vshard, e.ms, e.seq) for e in page]
                assert [e.position for e in page] == sorted((e.position for e in page), reverse=True)
                if arriving:  # new rows, and the archiver moving some of the tail meanwhile
                    n += 1
                    await r.xadd(keys.audit(n % VSHARDS), {"d": entry(1000 + n, "sku-1", "o1", at=5000.0)})
                    if n % 3 == 0:
                        drain = Drain(r, keys, VSHARDS, 5, 3600.0)
                        await drain.round(Archive(conn))
                if cursor is None:
                    return seen
        finally:
            await conn.close()
            await r.aclose()

    seen = asyncio.run(pages_of(AuditFilter(), arriving=True))
    assert len(seen) == len(set(seen)) and set(seen) == existing
    by_sku = asyncio.run(pages_of(AuditFilter(sku="sku-2"), arriving=False))
    assert len(by_sku) == len([i for i in range(80) if i % 3 == 2])
    by_order = asyncio.run(pages_of(AuditFilter(order_id="o3", since=1040.0), arriving=False))
    assert len(by_order) == len([i for i in range(40, 80) if i % 7 == 3])


def test_entries_a_capped_stream_drops_before_they_are_archived_are_counted_as_lost(
    pg_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    """PostgreSQL down while a stream outruns its cap: the entries trimmed unstored are reported
    (and only those: what was trimmed before history began is the baseline; the archiver's own
    trims of stored entries are not losses)."""
    keys = Keys(prefix)
    stream = stream_key(keys, 0)
    for i in range(10):  # before history: the cap keeps 5 of 10
        redis_client.xadd(stream, {"d": entry(i, "A")}, maxlen=5, approximate=False)
    first = asyncio.run(drain_all(pg_url, keys, keep_s=0.0))
    assert first.stats.lost == 0 and first.stats.archived == 5  # 5 gone before history: baseline
    for i in range(10, 30):  # PostgreSQL "down": nothing archives while the cap keeps 8 of 20
        redis_client.xadd(stream, {"d": entry(i, "A")}, maxlen=8, approximate=False)
    for i in range(3):  # a quiet stream: stored, then trimmed by the archiver's keep window
        add(redis_client, keys, 1, entry(100 + i, "B"))
    second = asyncio.run(drain_all(pg_url, keys, keep_s=0.0))
    assert second.stats.lost == 12 and second.stats.archived == 8 + 3
    for i in range(2):
        add(redis_client, keys, 1, entry(200 + i, "B"))
    add(redis_client, keys, 0, entry(300, "A"))
    third = asyncio.run(drain_all(pg_url, keys, keep_s=0.0))
    assert third.stats.lost == 0 and third.stats.archived == 3  # nothing new dropped, nothing counted twice
