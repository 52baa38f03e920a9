"""Order documents with every version in PostgreSQL (``engine.history.versions``), without Ray.

Real decisions (a ``ShardCore`` on the real Redis, its vshards' streams), the real archiver round
(``Drain``) and a real PostgreSQL database of each test's own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from engine.history.archive import INSERT_ENTRY, Archive, entry_row
from engine.history.drain import Drain
from engine.history.migrations import MIGRATIONS, connect, migrate
from engine.history.pages import HistoryPages, OrderCandidate
from engine.history.streams import Entry
from engine.history.versions import documents, view
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, OrderWindows
from tests.conftest import REDIS_URL
from tests.integration.test_history_archive import VSHARDS, drain_all, fresh_database

pytestmark = pytest.mark.integration
SMAP = ShardMap(1, vshards=VSHARDS)
A, B = "va", next(s for s in (f"vb{i}" for i in range(100)) if SMAP.vshard(s) != SMAP.vshard("va"))
va, vb = SMAP.vshard(A), SMAP.vshard(B)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def doc(kind: str, key: str, version: int, lines: dict[str, int]) -> dict[str, Any]:
    return {"kind": kind, "key": key, "channel": "shop", "order_id": "o-1", "version": version,
            "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}  # fmt: skip


EVENTS = [
    doc("order_placed", "v1", 1, {A: 2, B: 3}),
    doc("order_updated", "v2", 2, {A: 4, B: 3}),
    {"kind": "order_cancelled", "key": "v3", "channel": "shop", "order_id": "o-1", "skus": [B], "version": 3},
]


async def decide(prefix: str, events: list[dict[str, Any]], retention_s: int = 3600) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    core = await ShardCore(
        0, SMAP, client, Keys(prefix), windows=OrderWindows(retention_s=retention_s, marker_s=86_400)
    ).start()
    await core.apply_batch(
        [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 10} for s in (A, B)]
    )
    for ev in events:
        await core.apply_batch([ev])
    await client.aclose()


def versions_table(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT * FROM order_versions ORDER BY ms, seq, vshard").fetchall()


def shown(url: str) -> list[dict[str, Any]]:
    return documents([tuple(r) for r in versions_table(url)])  # type: ignore[misc]


def lines_of(version: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {ln["sku"]: (ln["requested"], ln["accepted"], ln["outcome"]) for ln in version["lines"]}


def test_an_order_placed_edited_and_partly_cancelled_on_two_vshards_has_three_versions(
    pg_url: str, prefix: str
) -> None:
    asyncio.run(decide(prefix, EVENTS))
    asyncio.run(archive(pg_url, prefix, lambda es: [[e for e in es if e.vshard == vs] for vs in (vb, va)]))
    versions = shown(pg_url)
    assert [(v["number"], v["event_id"], v["kind"], v["status"]) for v in versions] == [
        (1, "v1", "order_placed", "accepted"),
        (2, "v2", "order_updated", "accepted"),
        (3, "v3", "order_cancelled", "partially_cancelled"),
    ]
    assert lines_of(versions[0]) == {A: (2, 2, "accepted"), B: (3, 3, "accepted")}
    assert lines_of(versions[1]) == {A: (4, 4, "accepted"), B: (3, 3, "accepted")}
    assert lines_of(versions[2]) == {B: (0, 0, "returned")}
    assert [ln["delta"] for v in versions for ln in v["lines"]] == [-2, -3, -2, 0, 3]
    final = view("shop", "o-1", versions, None)
    assert final is not None and final["status"] == "partially_cancelled"
    assert {ln["sku"]: ln["accepted"] for ln in final["lines"]} == {A: 4, B: 0}


def test_batches_sent_again_in_any_order_and_a_restarted_archiver_add_no_version(
    pg_url: str, prefix: str
) -> None:
    asyncio.run(decide(prefix, EVENTS))
    asyncio.run(drain_all(pg_url, Keys(prefix), batch=2))
    before = versions_table(pg_url)
    assert len(before) == 3
    rng = random.Random(7)

    def shuffled(entries: list[Entry]) -> list[list[Entry]]:  # slices of 1-3 entries, any order
        out = []
        for _ in range(5):
            rng.shuffle(entries)
            out += [entries[i : i + rng.randint(1, 3)] for i in range(0, len(entries), 3)]
        return out

    asyncio.run(archive(pg_url, prefix, shuffled))
    assert versions_table(pg_url) == before
    # a new version: an old prefix of the streams re-sent (an archiver restarted from no cursor,
    # killed after two small batches), then one resuming from the stored cursors a batch at a time
    asyncio.run(decide(prefix, [doc("order_updated", "v4", 4, {A: 1})]))
    asyncio.run(archive(pg_url, prefix, lambda es: [es[:1], es[1:2]]))
    asyncio.run(drain_all(pg_url, Keys(prefix), batch=1))
    after = versions_table(pg_url)
    assert after[:3] == before and [r[2] for r in after] == ["v1", "v2", "v3", "v4"]


async def archive(url: str, prefix: str, batches: Callable[[list[Entry]], list[list[Entry]]]) -> None:
    """Every entry the streams hold (as an archiver with no cursor reads them), written in the
    batches ``batches`` cuts them into."""
    r = aioredis.Redis.from_url(REDIS_URL)
    conn = await connect(url)
    try:
        drain = Drain(r, Keys(prefix), VSHARDS, 10_000, 3600.0)
        drain.cursors = {}
        for batch in batches((await drain.observe()).all()):
            await Archive(conn).write(batch)
    finally:
        await conn.close()
        await r.aclose()


def test_versions_not_archived_yet_come_from_the_tail(pg_url: str, prefix: str) -> None:
    asyncio.run(decide(prefix, EVENTS[:1]))
    asyncio.run(drain_all(pg_url, Keys(prefix)))
    asyncio.run(decide(prefix, EVENTS[1:]))  # in Redis only

    async def listed() -> list[OrderCandidate]:
        r = aioredis.Redis.from_url(REDIS_URL)
        conn = await connect(pg_url)
        got: list[OrderCandidate] = []

        async def resolve(cands: list[OrderCandidate]) -> list[dict[str, Any]]:
            got.extend(cands)
            return [{}] * len(cands)

        try:
            await HistoryPages(conn, r, Keys(prefix), VSHARDS).orders("shop", None, 10, None, resolve)
        finally:
            await conn.close()
            await r.aclose()
        return got

    (cand,) = asyncio.run(listed())
    assert [v["event_id"] for v in cand.versions] == ["v1", "v2", "v3"]
    assert cand.versions == shown_after_drain(pg_url, prefix)


def shown_after_drain(url: str, prefix: str) -> list[dict[str, Any]]:
    asyncio.run(drain_all(url, Keys(prefix)))
    return shown(url)


def test_the_migration_builds_the_versions_of_entries_archived_before_it(pg_url: str, prefix: str) -> None:
    """A database archived at schema 3 gets, from migration 4, the rows the archiver would write."""
    asyncio.run(decide(prefix, EVENTS))

    async def at_schema_3_then_current() -> None:
        r = aioredis.Redis.from_url(REDIS_URL)
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await migrate(conn, MIGRATIONS[:3])
            drain = Drain(r, Keys(prefix), VSHARDS, 10_000, 3600.0)
            drain.cursors = {}
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_ENTRY, [entry_row(e) for e in (await drain.observe()).all()])
            assert await migrate(conn) == [4]
        await r.aclose()

    asyncio.run(at_schema_3_then_current())
    migrated = versions_table(pg_url)
    with fresh_database() as archived:
        asyncio.run(drain_all(archived, Keys(prefix), batch=3))
        assert migrated == versions_table(archived) and len(migrated) == 3
