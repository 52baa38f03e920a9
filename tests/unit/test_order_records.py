"""Order records in time-bucketed hashes (``engine.store.order_records``, issue 18): compact,
listpack-sized, every vshard's share of an order in one hash, one copy per record, and records of
the layout before (a key per record) still read after an upgrade. On the real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from actors.gateway.views import StoreViews
from engine.reconcile import ChannelOrder
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, OrderWindows, order_records
from engine.store.order_records import read_order_records
from engine.store.order_windows import marker
from engine.store.reconcile_store import ReconcileStore
from tests.conftest import REDIS_URL

SMAP = ShardMap(1, vshards=16)
A = "A"
B = next(s for s in (f"S{i}" for i in range(1000)) if SMAP.vshard(s) != SMAP.vshard(A))


def sale(key: str, order_id: str, *skus: str, q: int = 1, version: int = 1) -> dict[str, Any]:
    return {"kind": "order_placed" if version == 1 else "order_updated", "key": key, "channel": "x",
            "order_id": order_id, "version": version,
            "lines": [{"sku": s, "quantity": q} for s in skus]}  # fmt: skip


async def started(prefix: str) -> ShardCore:
    client = aioredis.Redis.from_url(REDIS_URL)
    core = await ShardCore(0, SMAP, client, Keys(prefix), windows=OrderWindows(3600, 7200)).start()
    await core.apply_batch([{"kind": "stock_set", "key": f"s-{s}", "sku": s, "quantity": 10} for s in (A, B)])
    return core


def test_a_single_line_sale_is_a_field_of_a_listpack_hash(prefix: str, redis_client: redis.Redis) -> None:
    async def go() -> None:
        core = await started(prefix)
        await core.apply_batch([sale(f"o{i}", f"{1000 + i}", "SKU-000123") for i in range(50)])
        (name,) = order_records.held(redis_client, Keys(prefix), SMAP.vshard("SKU-000123"), "x", "1000")
        assert redis_client.object("encoding", name) == b"listpack"
        (_, value), *_ = redis_client.hscan_iter(name)
        assert len(value) <= 64  # hash-max-listpack-value
        vs = SMAP.vshard("SKU-000123")
        (marks,) = order_records.held(redis_client, Keys(prefix), vs, "x", "1000", marker=True)
        assert redis_client.object("encoding", marks) == b"listpack"
        assert not redis_client.keys(f"{prefix}:{{v*}}:seen:*")  # no hash of markers per vshard
        assert not redis_client.keys(f"{prefix}:{{v*}}:order:*")  # no key per record
        await core.store.r.aclose()

    asyncio.run(go())


def test_every_vshard_share_of_an_order_is_in_one_hash_and_read_together(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        core = await started(prefix)
        await core.apply_batch([sale("o1", "1", A, B, q=2)])
        keys, (va, vb) = Keys(prefix), (SMAP.vshard(A), SMAP.vshard(B))
        assert order_records.held(redis_client, keys, va, "x", "1") == order_records.held(
            redis_client, keys, vb, "x", "1"
        )
        client = aioredis.Redis.from_url(REDIS_URL)
        wanted = [(vs, "x", "1") for vs in range(SMAP.vshards)]
        found = await read_order_records(client, keys, wanted)
        assert [vs for vs, r in enumerate(found) if r is not None] == sorted((va, vb))
        assert {ln["sku"]: ln["accepted"] for r in found if r for ln in r["lines"]} == {A: 2, B: 2}
        shown = await StoreViews(client, keys, SMAP).order_records("x", "1")
        assert sorted(r["status"] for r in shown) == ["accepted", "accepted"]
        known = await ReconcileStore(client, keys, SMAP).known_orders(
            "x", [ChannelOrder("1", ((A, 2), (B, 2)), 1.0, 1.0), ChannelOrder("2", ((A, 1),), 1.0, 1.0)]
        )
        assert known == {"1": 1}
        await client.aclose()
        await core.store.r.aclose()

    asyncio.run(go())


def test_records_of_the_layout_before_are_read_and_replaced_after_an_upgrade(
    prefix: str, redis_client: redis.Redis
) -> None:
    """A record written as its own key (JSON, ``SET EX``) by the code before: the first start
    finds one and keeps reading that layout; an edit is decided on it, and its new version lives
    in the buckets, where every reader finds it first."""
    keys, vs = Keys(prefix), SMAP.vshard(A)
    line = {"sku": A, "ver": 1, "q": 1, "kept": 0, "accepted": 1, "requested": 1, "outcome": "accepted"}
    old = {"status": "accepted", "at": 1_765_000_000.5, "lines": [line]}
    redis_client.set(keys.order(vs, "x", "old-1"), orjson.dumps(old), ex=3600)
    redis_client.hset(keys.stock(vs), A, "9:0:1")  # as the sale left it
    # and an order whose record has expired, leaving its marker as the code before wrote it
    bucket = int(redis_client.time()[0]) // OrderWindows(3600, 7200).legacy_bucket_s  # type: ignore[index]
    redis_client.hset(keys.seen(vs, bucket), bytes.fromhex(marker("x", "old-2")), "")

    async def go() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(0, SMAP, client, keys, windows=OrderWindows(3600, 7200)).start()
        assert float(redis_client.hget(keys.order_registry(), "legacy") or 0) > 3600
        reader = aioredis.Redis.from_url(REDIS_URL)
        assert await read_order_records(reader, keys, [(vs, "x", "old-1")]) == [old]
        (d,) = (await core.apply_batch([sale("u1", "old-1", A, q=3, version=2)])).decisions
        assert d["outcome"] == "applied" and d["lines"][0]["delta"] == -2  # decided on the old record
        (now,) = await read_order_records(reader, keys, [(vs, "x", "old-1")])
        assert now is not None and now["lines"][0]["q"] == 3 and now["at"] == old["at"]
        assert order_records.held(redis_client, keys, vs, "x", "old-1")
        (d,) = (await core.apply_batch([sale("u1-again", "old-1", A, q=3, version=2)])).decisions
        assert d["outcome"] == "duplicate_order"  # the buckets' copy is read before the old key
        (d,) = (await core.apply_batch([sale("late", "old-2", A, version=5)])).decisions
        assert d["outcome"] == "needs_decision"  # the old marker still tells it from a new order
        await reader.aclose()
        await core.store.r.aclose()

    asyncio.run(go())


def test_without_records_of_the_layout_before_it_is_never_read(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        core = await started(prefix)
        assert float(redis_client.hget(Keys(prefix).order_registry(), "legacy") or 1) == 0
        assert core.store._legacy_orders_until == 0
        await core.store.r.aclose()

    asyncio.run(go())


def test_a_cancel_parked_before_its_order_is_found_by_the_order(
    prefix: str, redis_client: redis.Redis
) -> None:
    """A parked cancel leaves no marker; its record (in the parked cancels' own bucket) is still
    read when its order comes, and the order's record then replaces it (one copy, marked)."""

    async def go() -> None:
        core = await started(prefix)
        keys, vs = Keys(prefix), SMAP.vshard(A)
        cancel = {"kind": "order_cancelled", "key": "c1", "channel": "x", "order_id": "9", "skus": [A],
                  "version": 2, "restock": True}  # fmt: skip
        (d,) = (await core.apply_batch([cancel])).decisions
        assert d["outcome"] == "parked"
        assert not order_records.held(redis_client, keys, vs, "x", "9", marker=True)
        (parked,) = order_records.held(redis_client, keys, vs, "x", "9")
        # parked cancels are few: their bucket starts with one hash, which every new sale's lookup
        # reads (one HMGET a batch rather than one an order)
        registry = redis_client.hgetall(keys.order_registry())
        assert [v.split()[0] for k, v in registry.items() if k.startswith(b"p") and b" " in v] == [b"1"]
        await core.store.r.aclose()
        core = await started(prefix)  # from Redis alone
        (d,) = (await core.apply_batch([sale("o9", "9", A, q=2)])).decisions
        assert d["outcome"] == "cancelled" and core.get(A)["available"] == 10  # type: ignore[index]
        (placed,) = order_records.held(redis_client, keys, vs, "x", "9")
        assert placed != parked and order_records.held(redis_client, keys, vs, "x", "9", marker=True)
        await core.store.r.aclose()

    asyncio.run(go())


def test_a_record_that_may_outlive_its_marker_is_read_without_it(
    prefix: str, redis_client: redis.Redis
) -> None:
    """With a marker window no longer than the retention (allowed), a record can outlive its
    marker by up to a bucket: its orders' lookups then read the record buckets whatever the marker
    says (``OrderWindows.marker_outlived``). Here the marker is deleted as if it had expired."""

    async def go() -> None:
        windows = OrderWindows(retention_s=600, marker_s=600)
        assert windows.marker_outlived("x") and not OrderWindows().marker_outlived("x")
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(0, SMAP, client, Keys(prefix), windows=windows).start()
        await core.apply_batch([{"kind": "stock_set", "key": "s", "sku": A, "quantity": 10}])
        await core.apply_batch([sale("o1", "1", A)])
        for name in order_records.held(redis_client, Keys(prefix), SMAP.vshard(A), "x", "1", marker=True):
            redis_client.delete(name)
        await core.store.r.aclose()
        client = aioredis.Redis.from_url(REDIS_URL)
        core = await ShardCore(0, SMAP, client, Keys(prefix), windows=windows).start()
        (d,) = (await core.apply_batch([sale("u1", "1", A, q=3, version=2)])).decisions
        assert d["outcome"] == "applied" and d["lines"][0]["delta"] == -2  # an edit, not a new order
        await core.store.r.aclose()

    asyncio.run(go())
