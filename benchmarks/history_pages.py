"""Page latency of ``GET /v1/audit`` and ``GET /v1/orders`` over a large history in PostgreSQL.

Issue 18's target: a page under 50 ms at 10 million rows. This loads ``--rows`` audit entries (and
an order row per two entries) into a throwaway database migrated by ``engine.history.migrations``
(the schema the archiver writes), then times ``engine.history.pages.HistoryPages`` end to end (the
archive cursors, the Redis tail, the SQL and the merge) for every kind of page the API serves:
newest first, by SKU (hot and rare), by order id, by channel, since a time, deep in the history
through a cursor, and the orders page by channel.

How the rows are made, and why that is fair: ``INSERT ... SELECT generate_series`` with the
indexes dropped and then re-created from their own definitions (``pg_get_indexdef``), because
index-at-a-time loading of 10 million rows is the benchmark's cost, not the product's. The shapes
follow the archiver's rows: positions ten per millisecond over all 1,024 vshards, 100,000 SKUs of
which one hot SKU has a tenth of the entries, eight channels, two entries per order, a JSON ``doc``
of the archiver's size (about 300 bytes). ``ANALYZE`` runs before timing, as autovacuum would have
on a live table. The Redis tail is empty (a caught-up archiver): the tail costs a few ms at most.

    python -m benchmarks.history_pages                 # 10,000,000 rows, ~10 min on 2 cores
    python -m benchmarks.history_pages --rows 200000   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis

from benchmarks.capacity_parts import pg_database
from benchmarks.common import write_result
from engine.history.migrations import connect
from engine.history.pages import AuditFilter, HistoryPages, OrderCandidate, encode_cursor
from engine.store import Keys

REDIS_URL = "redis://127.0.0.1:6379/0"
BASE_MS = 1_780_000_000_000
HOT = "SKU-HOT"
TARGET_MS = 50.0

FILL_AUDIT = """
INSERT INTO audit_entries (vshard, ms, seq, at, sku, order_id, channel, kind, key, version, outcome, doc)
SELECT (i * 7) %% 1024, x.ms, i %% 10, x.ms / 1000.0, x.sku, x.oid, x.ch, 'order_placed',
       x.ch || ':' || x.oid || ':1', 1, 'applied',
       jsonb_build_object('kind', 'order_placed', 'sku', x.sku, 'order_id', x.oid, 'channel', x.ch,
                          'key', x.ch || ':' || x.oid || ':1', 'outcome', 'applied', 'quantity', 1,
                          'available', 1000 - i %% 1000, 'version', i, 'at', x.ms / 1000.0,
                          'line', jsonb_build_object('quantity', 1, 'kept', 0, 'version', 1,
                                                     'state', 'placed'))
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i,
     LATERAL (SELECT %(base)s + i / 10 AS ms,
                     CASE WHEN i %% 10 = 0 THEN 'SKU-HOT'
                          ELSE 'SKU-' || lpad(((i * 7919) %% 100000)::text, 6, '0') END AS sku,
                     'ord-' || (i / 2) AS oid, 'ch-' || ((i / 2) %% 8) AS ch) AS x
"""
FILL_ORDERS = """
INSERT INTO orders (channel, order_id, ms, seq, vshard, at, vshards)
SELECT 'ch-' || (o %% 8), 'ord-' || o, %(base)s + (2 * o + 1) / 10, (2 * o + 1) %% 10,
       ((2 * o + 1) * 7) %% 1024,
       (%(base)s + (2 * o + 1) / 10) / 1000.0, ARRAY[((2 * o) * 7) %% 1024, ((2 * o + 1) * 7) %% 1024]
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS o
"""
CHUNK = 1_000_000


def load(url: str, rows: int) -> dict[str, float]:
    """Fill the migrated tables with ``rows`` audit entries; seconds per step."""
    took: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = [
            (name, definition)
            for name, definition in conn.execute(
                "SELECT indexname, pg_get_indexdef(i.indexrelid) FROM pg_indexes p"
                " JOIN pg_class c ON c.relname = p.indexname JOIN pg_index i ON i.indexrelid = c.oid"
                " WHERE p.tablename IN ('audit_entries', 'orders') AND NOT i.indisprimary"
            ).fetchall()
        ]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"'.encode())
        t0 = time.monotonic()
        for lo in range(0, rows, CHUNK):
            hi = min(rows, lo + CHUNK) - 1
            conn.execute(FILL_AUDIT.encode(), {"base": BASE_MS, "lo": lo, "hi": hi})
            conn.execute(FILL_ORDERS.encode(), {"base": BASE_MS, "lo": lo // 2, "hi": (hi + 1) // 2 - 1})
            print(f"  loaded {hi + 1:,} of {rows:,} rows ({time.monotonic() - t0:.0f} s)", flush=True)
        took["insert_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        for _, definition in indexes:
            conn.execute(definition.encode())
        took["index_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        conn.execute("VACUUM ANALYZE audit_entries")
        conn.execute("VACUUM ANALYZE orders")
        took["analyze_s"] = time.monotonic() - t0
    return took


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, Any]:
    """Latency of ``call`` (ms): first call apart (cold cache), then ``repeat`` more."""
    t0 = time.perf_counter()
    first = await call()
    cold = (time.perf_counter() - t0) * 1000
    xs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        xs.append((time.perf_counter() - t0) * 1000)
    xs.sort()
    return {
        "rows_in_page": len(first[0]),
        "cold_ms": round(cold, 2),
        "p50_ms": round(statistics.median(xs), 2),
        "p99_ms": round(xs[min(len(xs) - 1, int(0.99 * len(xs)))], 2),
        "max_ms": round(xs[-1], 2),
    }


async def resolve(cands: list[OrderCandidate]) -> list[dict[str, Any]]:
    # the gateway resolves candidates into views from Redis; the history side is what is timed
    return [{"channel": c.channel, "order_id": c.order_id} for c in cands]


async def measure(url: str, rows: int, limit: int, repeat: int) -> dict[str, Any]:
    conn = await connect(url)
    redis = aioredis.Redis.from_url(REDIS_URL)
    pages = HistoryPages(conn, redis, Keys(f"bench-pages-{uuid.uuid4().hex[:8]}"), 1024)
    middle_ms = BASE_MS + rows // 20  # half-way through the history
    deep = (await pages.audit(AuditFilter(), limit, None))[1]
    deep_cursor = encode_cursor((middle_ms, 0, 0))
    cases: dict[str, Callable[[], Awaitable[Any]]] = {
        "audit newest": lambda: pages.audit(AuditFilter(), limit, None),
        "audit next page": lambda: pages.audit(AuditFilter(), limit, deep),
        "audit deep (cursor half-way)": lambda: pages.audit(AuditFilter(), limit, deep_cursor),
        "audit by hot SKU": lambda: pages.audit(AuditFilter(sku=HOT), limit, None),
        "audit by rare SKU": lambda: pages.audit(AuditFilter(sku="SKU-012345"), limit, None),
        "audit by rare SKU, deep": lambda: pages.audit(AuditFilter(sku="SKU-012345"), limit, deep_cursor),
        "audit by order id": lambda: pages.audit(AuditFilter(order_id=f"ord-{rows // 4}"), limit, None),
        "audit by channel": lambda: pages.audit(AuditFilter(channel="ch-3"), limit, None),
        "audit since (last minute)": lambda: pages.audit(
            AuditFilter(since=(BASE_MS + rows // 10) / 1000 - 60), limit, None
        ),
        "orders newest": lambda: pages.orders(None, None, limit, None, resolve),
        "orders by channel": lambda: pages.orders("ch-5", None, limit, None, resolve),
        "orders by channel, deep": lambda: pages.orders("ch-5", None, limit, deep_cursor, resolve),
    }
    out = {name: await timed(call, repeat) for name, call in cases.items()}
    await redis.aclose()
    await conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="audit entries (orders: half as many)")
    parser.add_argument("--limit", type=int, default=100, help="rows per page (the API's default is 100)")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per kind of page")
    parser.add_argument("--name", default="history_pages", help="result file name under benchmarks/results/")
    args = parser.parse_args()
    with pg_database() as url:
        asyncio.run(_prepare(url))
        print(f"loading {args.rows:,} audit entries and {args.rows // 2:,} orders", flush=True)
        took = load(url, args.rows)
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        pages = asyncio.run(measure(url, args.rows, args.limit, args.repeat))
    worst = max(v["p99_ms"] for v in pages.values())
    payload = {
        "rows": args.rows,
        "orders": args.rows // 2,
        "page_limit": args.limit,
        "repeat": args.repeat,
        "database_size": size[0] if size else None,
        "load": {k: round(v, 1) for k, v in took.items()},
        "pages": pages,
        "worst_p99_ms": worst,
        "target_ms": TARGET_MS,
        "target_met": worst < TARGET_MS,
    }
    path = write_result(args.name, payload)
    for name, row in pages.items():
        p50, p99, cold = row["p50_ms"], row["p99_ms"], row["cold_ms"]
        print(f"{name:32} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  cold {cold:7.2f} ms")
    print(f"worst p99 {worst:.2f} ms (target < {TARGET_MS:.0f} ms); wrote {path}")


async def _prepare(url: str) -> None:
    conn = await connect(url)  # the migrations the archiver runs
    await conn.close()


if __name__ == "__main__":
    main()
