"""A small versioned migration runner: ordered migrations, each with a one-line reason.

Why not Alembic: the schema is a handful of tables written only by this package, and a runner of
40 lines that takes an advisory lock needs no second configuration file nor a model layer. Applied
versions are rows of ``schema_migrations``; each migration runs in the same transaction as its
row, so a crash leaves it applied whole or not at all. Two processes starting at once (two
gateways, an archiver restarting beside them) serialise on ``pg_advisory_xact_lock``: the second
finds the versions applied and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

LOCK_ID = 0x5C05_1C_0001
"""Advisory lock key for the runner (any constant no other code uses)."""


@dataclass(frozen=True)
class Migration:
    version: int
    reason: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "audit entries archived from the Redis streams, keyed by (vshard, stream id) so re-sends are ignored",
        """
        CREATE TABLE audit_entries (
            vshard integer NOT NULL,          -- -1: the stream of lines refused at the edge
            ms bigint NOT NULL,               -- stream entry id: Redis time in ms ...
            seq bigint NOT NULL,              -- ... and sequence within that ms
            at double precision,
            sku text,
            order_id text,
            channel text,
            kind text,
            key text,
            version bigint,
            outcome text,
            doc jsonb NOT NULL,
            PRIMARY KEY (vshard, ms, seq)
        );
        CREATE INDEX audit_newest ON audit_entries (ms, seq, vshard);
        CREATE INDEX audit_by_sku ON audit_entries (sku, ms, seq, vshard);
        CREATE INDEX audit_by_order ON audit_entries (order_id, ms, seq, vshard)
            WHERE order_id IS NOT NULL;
        CREATE INDEX audit_by_channel ON audit_entries (channel, ms, seq, vshard)
            WHERE channel IS NOT NULL;
        CREATE TABLE archive_cursors (
            vshard integer PRIMARY KEY,
            ms bigint NOT NULL,
            seq bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    Migration(
        2,
        "orders by newest activity, kept by the archiver, so GET /v1/orders pages without grouping entries",
        """
        CREATE TABLE orders (
            channel text NOT NULL,
            order_id text NOT NULL,
            ms bigint NOT NULL,
            seq bigint NOT NULL,
            vshard integer NOT NULL,
            at double precision,
            vshards integer[] NOT NULL,
            PRIMARY KEY (channel, order_id)
        );
        CREATE INDEX orders_newest ON orders (ms, seq, vshard);
        CREATE INDEX orders_by_channel ON orders (channel, ms, seq, vshard);
        """,
    ),
    Migration(
        3,
        "entries stored per stream, and those the stream dropped unstored: a trim past the cursor is seen",
        """
        ALTER TABLE archive_cursors ADD COLUMN stored bigint NOT NULL DEFAULT 0;
        ALTER TABLE archive_cursors ADD COLUMN dropped bigint;
        UPDATE archive_cursors c
            SET stored = (SELECT count(*) FROM audit_entries a WHERE a.vshard = c.vshard);
        """,
    ),
    Migration(
        4,
        "every version of each order (its event's lines merged by SKU): an order outlives its Redis record",
        """
        CREATE TABLE order_versions (
            channel text NOT NULL,
            order_id text NOT NULL,
            key text NOT NULL,                -- the event's key: one version per deciding event
            ms bigint NOT NULL,               -- position of its oldest entry
            seq bigint NOT NULL,
            vshard integer NOT NULL,
            at double precision,
            kind text,
            lines jsonb NOT NULL,             -- sku -> that line's entry (engine.history.versions)
            PRIMARY KEY (channel, order_id, key)
        );
        -- entries archived before this migration: their versions, as the archiver builds them
        INSERT INTO order_versions (channel, order_id, key, ms, seq, vshard, at, kind, lines)
        SELECT channel, order_id, key, p[1], p[2], p[3]::integer, at, kind, lines FROM (
            SELECT channel, order_id, key,
                min(ARRAY[ms, seq, vshard::bigint]) AS p,
                (array_agg(at ORDER BY ms, seq, vshard))[1] AS at,
                (array_agg(kind ORDER BY ms, seq, vshard))[1] AS kind,
                jsonb_object_agg(sku, jsonb_build_object(
                    'delta', doc->'delta', 'outcome', doc->'outcome', 'before', doc->'before',
                    'available', doc->'after', 'sku_version', doc->'version')) AS lines
            FROM audit_entries
            WHERE vshard >= 0 AND channel IS NOT NULL AND order_id IS NOT NULL
                AND sku IS NOT NULL AND key IS NOT NULL
            GROUP BY channel, order_id, key
        ) AS g;
        """,
    ),
)


async def migrate(
    conn: psycopg.AsyncConnection[Any], migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply the migrations not applied yet, in version order; returns the versions applied now.

    Idempotent, and safe when several processes call it at once (see the module docstring).
    """
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, reason text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in await cur.fetchall()}
        for m in sorted(migrations, key=lambda m: m.version):
            if m.version in done:
                continue
            await conn.execute(m.sql.encode())  # several statements: no parameters, simple protocol
            await conn.execute(
                "INSERT INTO schema_migrations (version, reason) VALUES (%s, %s)", (m.version, m.reason)
            )
            applied.append(m.version)
    return applied


async def connect(url: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection (every write here is an explicit transaction) with the schema current."""
    conn: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=5
    )
    try:
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn
