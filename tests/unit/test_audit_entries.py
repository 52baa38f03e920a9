"""Compact audit entries (issue 18 item 1): one-letter stream fields instead of a JSON document,
read back as the same document by every reader, and entries of the first form still read. On the
real Redis, through ``ShardCore`` (the commit path a shard runs)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from actors.gateway.streams import _decode as gateway_decode
from engine import audit_entries
from engine.history.streams import decode as history_decode
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys
from tests.conftest import REDIS_URL

SMAP = ShardMap(1, vshards=16)
VS = SMAP.vshard("A")


def first_form(
    key: str,
    kind: str,
    channel: str | None,
    order_id: str | None,
    sku: str,
    delta: int,
    before: int | None,
    after: int | None,
    version: int | None,
    outcome: str,
    at: float,
) -> dict[str, Any]:
    """The document the first form held (``engine.rules`` before the compact form), field for field."""
    return {"key": key, "kind": kind, "channel": channel, "order_id": order_id, "sku": sku, "delta": delta,
            "before": before, "after": after, "version": version, "outcome": outcome, "at": at}  # fmt: skip


async def decided(prefix: str, events: list[dict[str, Any]], now: float) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    core = await ShardCore(0, SMAP, client, Keys(prefix), clock=lambda: now).start()
    for ev in events:
        await core.apply_batch([ev])
    await client.aclose()


def test_entries_read_back_as_the_documents_the_first_form_held(
    prefix: str, redis_client: redis.Redis
) -> None:
    now = 1_765_000_000.123456
    nope = next(s for s in (f"N{i}" for i in range(1000)) if SMAP.vshard(s) == VS)  # never stocked
    events = [
        {"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10**12},
        {"kind": "order_placed", "key": "shopify:orders/create:1:x", "channel": "shop",
         "order_id": "5600000000001", "lines": [{"sku": "A", "quantity": 2}, {"sku": nope, "quantity": 1}]},
        {"kind": "stock_adjusted", "key": "adj", "sku": "A", "delta": -(10**13)},
    ]  # fmt: skip
    asyncio.run(decided(prefix, events, now))
    rows = redis_client.xrange(Keys(prefix).audit(VS))
    expected = [
        first_form("s", "stock_set", None, None, "A", 10**12, 0, 10**12, 1, "set", now),
        first_form("shopify:orders/create:1:x", "order_placed", "shop", "5600000000001", "A", -2,
                   10**12, 10**12 - 2, 2, "accepted", now),
        first_form("shopify:orders/create:1:x", "order_placed", "shop", "5600000000001", nope, 0,
                   None, None, None, "unknown_sku", now),
        first_form("adj", "stock_adjusted", None, None, "A", 0, 10**12 - 2, 10**12 - 2, 2, "rejected", now),
    ]  # fmt: skip
    for (_, fields), doc in zip(rows, expected, strict=True):  # type: ignore[arg-type]
        assert fields[b"v"] == b"2" and b"d" not in fields
        for read in (audit_entries.decode, gateway_decode, history_decode):
            assert orjson.dumps(read(fields)) == orjson.dumps(doc)  # same values, types and order


def test_an_int_clock_stays_an_int_and_a_whole_float_a_float(prefix: str, redis_client: redis.Redis) -> None:
    asyncio.run(
        decided(prefix, [{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 1}], 1_765_000_000)
    )
    asyncio.run(
        decided(prefix, [{"kind": "stock_set", "key": "t", "sku": "A", "quantity": 2}], 1_765_000_000.0)
    )
    ats = [audit_entries.decode(f)["at"] for _, f in redis_client.xrange(Keys(prefix).audit(VS))]  # type: ignore[index,union-attr]
    assert [(a, type(a)) for a in ats] == [(1_765_000_000, int), (1_765_000_000.0, float)]


def test_entries_of_the_first_form_still_read_and_a_broken_one_is_kept_as_text(
    prefix: str, redis_client: redis.Redis
) -> None:
    doc = first_form("k", "stock_set", None, None, "A", 3, 0, 3, 1, "set", 1.5)
    stream = Keys(prefix).audit(VS)
    redis_client.xadd(stream, {"d": orjson.dumps(doc)})
    redis_client.xadd(stream, {"v": "2", "k": "k", "n": "not a number"})
    (_, old), (_, broken) = redis_client.xrange(stream)  # type: ignore[misc]
    assert audit_entries.decode(old) == gateway_decode(old) == history_decode(old) == doc
    assert audit_entries.decode(broken) is None and gateway_decode(broken) is None
    assert history_decode(broken) == {"raw": "v=2 k=k n=not a number"}


def test_a_sale_entry_costs_far_less_than_the_first_form(prefix: str, redis_client: redis.Redis) -> None:
    """Bytes, not time: 2,000 one-line sales' entries in one stream (MEMORY USAGE of the stream)."""
    n = 2000
    ids = [str(5600000000000 + i) for i in range(n)]
    sales = [{"kind": "order_placed", "key": f"shopify:orders/create:{oid}:0b6a6a9e-4b8d-4a57-9d13-{oid[1:]}",
              "channel": "shop-main", "order_id": oid, "lines": [{"sku": "A", "quantity": 1}]}
             for oid in ids]  # fmt: skip

    async def go() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(0, SMAP, client, Keys(prefix)).start()
        await core.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": n}])
        await core.apply_batch(sales)
        await client.aclose()

    asyncio.run(go())
    per_entry = int(redis_client.memory_usage(Keys(prefix).audit(VS), samples=0) or 0) / (n + 1)
    print(f"audit bytes per sale entry: {per_entry:.1f}")
    assert per_entry < 200, per_entry  # the first form: ~300 bytes an entry for these sales
