"""Compact idempotency records (issue 18 item 1): time-bucketed hashes that expire whole, a compact
encoding of each answer, and the promises of ``engine.idempotency`` kept. On the real Redis; each
store test reads records through a fresh ``ShardCore`` (empty memory), so answers come from Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from engine import idempotency
from engine.ledger import Ledger
from engine.partition import by_owner
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, idem_layout
from engine.store.idem_layout import idem_bucket_s
from tests.conftest import REDIS_URL

SMAP = ShardMap(1, vshards=16)
TWO = ShardMap(2, vshards=16)


def sale(key: str, order_id: str, *skus: str, q: int = 1) -> dict[str, Any]:
    return {"kind": "order_placed", "key": key, "channel": "x", "order_id": order_id, "version": 1,
            "lines": [{"sku": s, "quantity": q} for s in skus]}  # fmt: skip


def seed(*skus: str, quantity: int = 10) -> list[dict[str, Any]]:
    return [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": quantity} for s in skus]


async def core(prefix: str, smap: ShardMap = SMAP, shard: int = 0, ttl_s: int = 3600) -> ShardCore:
    client = aioredis.Redis.from_url(REDIS_URL)
    return await ShardCore(shard, smap, client, Keys(prefix), idem_ttl_s=ttl_s).start()


def two_vshard_skus(smap: ShardMap, shards: bool = False) -> tuple[str, str]:
    """Two SKUs on different vshards (and, with ``shards``, of different shards)."""
    other = (
        (lambda s: smap.shard(s) != smap.shard("A"))
        if shards
        else (lambda s: smap.vshard(s) != smap.vshard("A"))
    )
    return "A", next(s for s in (f"S{i}" for i in range(1000)) if other(s))


# -- the encoding -------------------------------------------------------------------------------
def test_every_kind_of_answer_is_replayed_byte_for_byte_from_its_compact_record() -> None:
    """Sales (enough, short, unknown SKU), edits, cancels, adjustments (applied and refused), counts,
    channel reports and own-checkout steps: each retry, decided from the stored record alone (a
    fresh ledger over the same stock), answers exactly the first answer's JSON."""
    led = Ledger(SMAP, clock=lambda: 1_765_000_000.25)
    a, b = two_vshard_skus(SMAP)
    events = [
        *seed(a, b, quantity=3),
        sale("s1", "1", a), sale("s2", "2", a, b, q=2), sale("s3", "3", "NOPE"),
        {**sale("u1", "1", a, q=3), "kind": "order_updated", "version": 2},
        {"kind": "order_cancelled", "key": "c1", "channel": "x", "order_id": "2", "skus": [a, b],
         "version": 3},
        {"kind": "order_cancelled", "key": "c2", "channel": "x", "order_id": "9", "skus": [a],
         "version": None},
        {"kind": "stock_adjusted", "key": "adj", "sku": a, "delta": 2},
        {"kind": "stock_adjusted", "key": "adj-no", "sku": a, "delta": -100},
        {"kind": "channel_quantity_reported", "key": "rep", "channel": "x", "sku": a, "quantity": 7},
        {"kind": "order_reserve", "key": "r1", "channel": "own", "order_id": "t", "txn": "t1",
         "lines": [{"sku": b, "quantity": 1}]},
        {"kind": "order_reserve", "key": "r2", "channel": "own", "order_id": "u", "txn": "t2",
         "lines": [{"sku": b, "quantity": 50}]},
        {"kind": "order_commit", "key": "r3", "channel": "own", "order_id": "t", "txn": "t1", "skus": [b]},
    ]  # fmt: skip
    first = [led.process([ev])[0] for ev in events]
    again = Ledger(SMAP, clock=lambda: 1_765_000_999.0)
    again.records, again.memory = dict(led.records), dict(led.memory)
    for ev, d in zip(events, first, strict=True):
        assert orjson.dumps(again.process([ev])[0]) == orjson.dumps(d), ev["key"]
    compact = [raw for raw in led.memory.values() if isinstance(raw, str) and raw[16:].count("{") == 0]
    assert len(compact) >= len(events) - 2  # nearly every answer fits the compact form


def test_a_sale_record_is_small_and_an_unknown_shape_is_kept_whole() -> None:
    ev = sale(
        "shopify:orders/create:5600000000001:0b6a6a9e-4b8d-4a57-9d13-1b9b6b0c2a11", "5600000000001", "A"
    )
    d = {"key": ev["key"], "kind": ev["kind"], "outcome": "applied",
         "lines": [{"sku": "A", "outcome": "accepted", "delta": -1, "available": 1234, "version": 123456,
                    "requested": 1, "accepted": 1}], "channel": "x", "order_id": ev["order_id"]}  # fmt: skip
    part = idempotency.encode(d, ev)
    rec = idempotency.record(idempotency.fingerprint(ev), {"12": part})
    assert len(rec) <= 45 and idempotency.decode(part, ev) == d  # the JSON was ~330 bytes
    odd = {**d, "lines": [{**d["lines"][0], "extra": 1}]}  # a line shape the encoding does not know
    assert (
        idempotency.encode(odd, ev).startswith("{")
        and idempotency.decode(idempotency.encode(odd, ev), ev) == odd
    )
    other = {**d, "key": "another"}  # not restated by this event: kept whole
    assert idempotency.decode(idempotency.encode(other, ev), ev) == other


# -- the store ------------------------------------------------------------------------------------
def test_records_live_in_small_bucket_hashes_and_answer_retries_from_redis(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        c = await core(prefix)
        await c.apply_batch(seed("A", quantity=500))
        orders = [sale(f"o{i}", str(i), "A") for i in range(300)]
        first = (await c.apply_batch(orders)).decisions
        await c.store.r.aclose()
        registry = Keys(prefix).idem_registry()
        hashes = {h for k in ("o0", "o1", "o299") for h, _ in idem_layout.places(
            redis_client.hgetall(registry), registry, k)}  # fmt: skip
        for h in hashes:  # 64 hashes for the first bucket: ~5 records each, compact encoding
            assert redis_client.object("encoding", h) == b"listpack"
            assert redis_client.ttl(h) > 3600
        fresh = await core(prefix)  # nothing in memory: every answer comes from Redis
        retried = (await fresh.apply_batch(orders)).decisions
        assert [orjson.dumps(d) for d in retried] == [orjson.dumps(d) for d in first]
        assert fresh.get("A")["available"] == 200  # type: ignore[index]
        (clash,) = (await fresh.apply_batch([sale("o7", "7", "A", q=5)])).decisions
        assert clash["outcome"] == "conflict" and fresh.get("A")["available"] == 200  # type: ignore[index]
        await fresh.store.r.aclose()

    asyncio.run(go())


def test_a_key_reused_with_another_payload_is_a_conflict_on_every_vshard(prefix: str) -> None:
    async def go() -> None:
        a, b = two_vshard_skus(SMAP)
        c = await core(prefix)
        await c.apply_batch(seed(a, b))
        await c.apply_batch([sale("k", "1", a)])
        await c.store.r.aclose()
        fresh = await core(prefix)
        (d,) = (await fresh.apply_batch([sale("k", "2", b)])).decisions  # another vshard, another payload
        assert d["outcome"] == "conflict" and fresh.get(b)["available"] == 10  # type: ignore[index]
        await fresh.store.r.aclose()

    asyncio.run(go())


def test_an_event_split_across_shards_and_buckets_is_joined_and_never_counted_twice(
    prefix: str, redis_client: redis.Redis
) -> None:
    """Shard 0 records its part in one bucket; shard 1 records its part of the same event in a
    later bucket (3-second buckets); a retry through both finds both parts and moves nothing."""
    TTL = 9  # records live 9-12 s: the retry comes well within

    async def go() -> None:
        a, b = two_vshard_skus(TWO, shards=True)
        s0, s1 = await core(prefix, TWO, 0, ttl_s=TTL), await core(prefix, TWO, 1, ttl_s=TTL)
        for sku in (a, b):
            await (s0, s1)[TWO.shard(sku)].apply_batch(seed(sku))
        owners = by_owner([sale("split", "1", a, b)], TWO.shard, TWO.vshard)  # as ShardClient sends it
        mine = {o: [part for _, part in items] for o, items in owners.items()}
        assert set(mine) == {0, 1}
        (d0,) = (await s0.apply_batch(mine[0])).decisions
        bucket = int(redis_client.time()[0]) // idem_bucket_s(TTL)
        while int(redis_client.time()[0]) // idem_bucket_s(TTL) == bucket:  # Redis's clock: the next bucket
            await asyncio.sleep(0.02)
        (d1,) = (await s1.apply_batch(mine[1])).decisions
        registry = Keys(prefix).idem_registry()
        held = [h for h, f in idem_layout.places(redis_client.hgetall(registry), registry, "split")
                if redis_client.hexists(h, f)]  # fmt: skip
        assert len(held) == 2  # one part in each bucket
        for c in (s0, s1):
            await c.store.r.aclose()
        r0, r1 = await core(prefix, TWO, 0, ttl_s=TTL), await core(prefix, TWO, 1, ttl_s=TTL)
        assert (await r0.apply_batch(mine[0])).decisions == [d0]
        assert (await r1.apply_batch(mine[1])).decisions == [d1]
        for sku in (a, b):
            assert (r0, r1)[TWO.shard(sku)].get(sku)["available"] == 9  # type: ignore[index]
        for c in (r0, r1):
            await c.store.r.aclose()

    asyncio.run(go())


def test_a_bucket_has_as_many_hashes_as_the_last_buckets_rate_needs(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        registry, span = Keys(prefix).idem_registry(), idem_bucket_s(3600)
        now_bucket = int(redis_client.time()[0]) // span
        for b in (now_bucket - 1, now_bucket):  # the bucket before took 64,000 records
            redis_client.hset(registry, f"3600:{b}:n", 64_000)
        c = await core(prefix)
        await c.apply_batch(seed("A"))
        await c.store.r.aclose()
        buckets = {k: v for k, v in redis_client.hgetall(registry).items() if b" " in v}
        assert [v.split()[0] for v in buckets.values()] == [b"1024"]  # 64,000 / 64 a hash, a power of 2

    asyncio.run(go())


def test_records_of_the_layout_before_buckets_are_still_read_after_an_upgrade(
    prefix: str, redis_client: redis.Redis
) -> None:
    """A record written before the upgrade (a key per record, JSON) answers its retry, byte for byte."""

    async def go() -> None:
        old = {"key": "before", "kind": "order_placed", "outcome": "applied",
               "lines": [{"sku": "A", "outcome": "accepted", "delta": -1, "available": 9, "version": 2,
                          "requested": 1, "accepted": 1}], "channel": "x", "order_id": "1"}  # fmt: skip
        ev = sale("before", "1", "A")
        stored = orjson.dumps([idempotency.fingerprint(ev), {str(SMAP.vshard("A")): old}])
        redis_client.set(f"{prefix}:idem:before", stored, ex=3600)
        c = await core(prefix)
        await c.apply_batch(seed("A", quantity=9))
        (d,) = (await c.apply_batch([ev])).decisions
        assert orjson.dumps(d) == orjson.dumps(old) and c.get("A")["available"] == 9  # type: ignore[index]
        (clash,) = (await c.apply_batch([sale("before", "2", "A")])).decisions
        assert clash["outcome"] == "conflict"
        await c.store.r.aclose()
        assert float(redis_client.hget(Keys(prefix).idem_registry(), "legacy") or 0) > 0

    asyncio.run(go())


def test_a_new_deployment_reads_no_older_layout(prefix: str, redis_client: redis.Redis) -> None:
    async def go() -> None:
        c = await core(prefix)
        await c.apply_batch(seed("A"))
        await c.store.r.aclose()
        assert redis_client.hget(Keys(prefix).idem_registry(), "legacy") == b"0"

    asyncio.run(go())
