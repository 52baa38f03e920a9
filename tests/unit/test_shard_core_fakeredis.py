"""ShardCore over fakeredis (store logic only): commit, reload, fencing, pipelined batches, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
import redis

from engine.ledger import VShardWrites
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import FencedError, Keys, StoreUnavailable, idem_layout, order_records

SMAP = ShardMap(1, vshards=16)


async def core(server: fakeredis.FakeServer) -> ShardCore:
    client = fakeredis.FakeAsyncRedis(server=server)
    return await ShardCore(0, SMAP, client, Keys("u"), clock=lambda: 5.0).start()


def order(key: str, oid: str, sku: str = "A", q: int = 1) -> dict[str, Any]:
    return {
        "kind": "order_placed",
        "key": key,
        "channel": "x",
        "order_id": oid,
        "lines": [{"sku": sku, "quantity": q}],
    }


def test_reload_equals_committed_state_and_retries_replay() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}])
        first = (await c.apply_batch([order("o", "1", q=3)])).decisions
        c2 = await core(server)  # a restart: new epoch, state from Redis
        assert c2.get("A") == c.get("A")
        again = (await c2.apply_batch([order("o", "1", q=3)])).decisions
        assert again == first and c2.get("A")["available"] == 1  # type: ignore[index]
        cancel = (
            await c2.apply_batch(
                [{"kind": "order_cancelled", "key": "c", "channel": "x", "order_id": "1", "skus": ["A"]}]
            )
        ).decisions
        assert cancel[0]["lines"][0]["delta"] == 3

    asyncio.run(go())


def test_stale_activation_cannot_write() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        old = await core(server)
        await core(server)
        with pytest.raises(FencedError):
            await old.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}])
        assert old.get("A") is None  # memory did not run ahead of storage
        with pytest.raises(FencedError):  # and it stays retired
            await old.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}])

    asyncio.run(go())


def test_concurrent_batches_with_shared_duplicates_decide_once() -> None:
    async def go() -> None:
        c = await core(fakeredis.FakeServer())
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 50}])
        batches = [
            [order(f"k{(b * 7 + i) % 40}", f"{(b * 7 + i) % 40}") for i in range(10)] for b in range(12)
        ]
        results = await asyncio.gather(*(c.apply_batch(b) for b in batches))
        seen: dict[str, Any] = {}
        for b, r in zip(batches, results, strict=True):
            for ev, d in zip(b, r.decisions, strict=True):
                assert seen.setdefault(ev["key"], d) == d
        assert c.get("A")["available"] == 50 - len(seen)  # type: ignore[index]

    asyncio.run(go())


def test_failed_commit_fails_its_batch_and_later_ones_then_reloads() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        real_commit = c.store.commit

        async def commit_then_lose_redis(plans: Any) -> None:
            server.connected = False  # Redis goes away between the read and the write
            await real_commit(plans)

        c.store.commit = commit_then_lose_redis  # type: ignore[method-assign]
        first, second = await asyncio.gather(
            c.apply_batch([order("o1", "1")]), c.apply_batch([order("o2", "2")]), return_exceptions=True
        )
        assert isinstance(first, StoreUnavailable) and isinstance(second, StoreUnavailable)
        assert c.get("A")["available"] == 10  # type: ignore[index]
        with pytest.raises(StoreUnavailable):  # cannot reload while Redis is away
            await c.apply_batch([order("o1", "1")])
        c.store.commit = real_commit  # type: ignore[method-assign]
        server.connected = True
        d = (await c.apply_batch([order("o1", "1")])).decisions
        assert d[0]["lines"][0]["accepted"] == 1 and c.get("A")["available"] == 9  # type: ignore[index]

    asyncio.run(go())


def test_audit_entry_per_decided_line_and_idempotency_ttl() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 4}, order("o", "1")])
        r = fakeredis.FakeRedis(server=server)
        vs = SMAP.vshard("A")
        assert len(r.xrange(Keys("u").audit(vs))) == 2
        # the idempotency record is in a bucket kept for at least the window (72 h)
        registry = Keys("u").idem_registry()
        assert idem_layout.read(r, registry, "o") is not None
        held = [h for h, f in idem_layout.places(r.hgetall(registry), registry, "o") if r.hexists(h, f)]
        assert len(held) == 1 and r.ttl(held[0]) > 72 * 3600
        # an order record is kept for the order retention window (90 days, to a third more), its
        # marker longer; nothing is written in the layout before (a key per record)
        (bucket,) = order_records.held(r, Keys("u"), vs, "x", "1")
        assert 90 * 86_400 < r.ttl(bucket) <= 120 * 86_400 and not r.exists(Keys("u").order(vs, "x", "1"))
        (seen,) = order_records.held(r, Keys("u"), vs, "x", "1", marker=True)
        assert r.hlen(seen) == 1 and r.ttl(seen) > 400 * 86_400

    asyncio.run(go())


def test_commit_groups_stop_at_the_decision_cap_and_keep_order() -> None:
    """Queued plans leave in decision order, in groups of about GROUP_DECISIONS decisions."""
    from engine.ledger import Plan
    from engine.shard_core import GROUP_DECISIONS

    async def go() -> None:
        c = await core(fakeredis.FakeServer())
        loop = asyncio.get_running_loop()
        sizes = [GROUP_DECISIONS // 2, GROUP_DECISIONS // 2, 1, 3, GROUP_DECISIONS * 2, 5]
        plans = [Plan(decisions=[{}] * n) for n in sizes]
        c._queue.extend((p, loop.create_future()) for p in plans)
        groups = []
        while c._queue:
            groups.append([p for p, _ in c._next_group()])
        assert [len(g) for g in groups] == [2, 3, 1]  # a group closes once it holds the cap
        assert [p for g in groups for p in g] == plans

    asyncio.run(go())


def test_many_pipelined_batches_commit_in_several_groups_and_all_land() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10_000}])
        batches = [[order(f"k{b}-{i}", f"{b}-{i}") for i in range(700)] for b in range(6)]
        results = await asyncio.gather(*(c.apply_batch(b) for b in batches))
        assert all(d["outcome"] == "applied" for r in results for d in r.decisions)
        assert (await core(server)).get("A")["available"] == 10_000 - 4_200  # type: ignore[index]

    asyncio.run(go())


def test_lost_script_cache_rereads_but_fails_a_commit_once_then_recovers() -> None:
    """After SCRIPT FLUSH (or a Redis restart) reads load the scripts and go on; a commit fails
    its batch (nothing written), and the retry decides it exactly once."""

    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        r = fakeredis.FakeAsyncRedis(server=server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        await r.script_flush()
        d = (await c.apply_batch([order("o1", "1")])).decisions  # the read reloads the scripts
        assert d[0]["lines"][0]["accepted"] == 1
        real_fetch = c.store.fetch

        async def fetch_then_flush(*args: Any) -> Any:
            fetched = await real_fetch(*args)
            await r.script_flush()  # the cache empties between this batch's read and its commit
            return fetched

        c.store.fetch = fetch_then_flush  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailable, match="lost the commit script"):
            await c.apply_batch([order("o2", "2")])
        c.store.fetch = real_fetch  # type: ignore[method-assign]
        assert c.get("A")["available"] == 9  # type: ignore[index]
        retried = (await c.apply_batch([order("o2", "2"), order("o2", "2")])).decisions
        assert retried[0] == retried[1] and retried[0]["lines"][0]["accepted"] == 1
        assert c.get("A")["available"] == 8  # type: ignore[index]

    asyncio.run(go())


def test_a_commit_over_several_vshards_lands_whole_or_not_at_all() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        skus = ["A", next(s for s in (f"S{i}" for i in range(100)) if SMAP.vshard(s) != SMAP.vshard("A"))]
        await c.apply_batch([{"kind": "stock_set", "key": f"s{s}", "sku": s, "quantity": 5} for s in skus])
        r = fakeredis.FakeAsyncRedis(server=server)
        stock_before = {s: await r.hget(Keys("u").stock(SMAP.vshard(s)), s) for s in skus}
        await r.set(Keys("u").owner(SMAP.vshard(skus[1])), "0:999")  # a newer activation took one
        with pytest.raises(FencedError):
            await c.apply_batch([order(f"o{s}", f"{s}", sku=s) for s in skus])
        sync = fakeredis.FakeRedis(server=server)
        for s in skus:  # not even the vshard this shard still owns was written
            assert await r.hget(Keys("u").stock(SMAP.vshard(s)), s) == stock_before[s]
            assert idem_layout.read(sync, Keys("u").idem_registry(), f"o{s}") is None

    asyncio.run(go())


def fail_next_commit(c: ShardCore) -> None:
    """The next commit fails as a lost reply would (the shard cannot tell whether it ran)."""
    real = c.store.commit

    async def fail(plans: Any) -> None:
        c.store.commit = real  # type: ignore[method-assign]
        raise StoreUnavailable("no reply from Redis")

    c.store.commit = fail  # type: ignore[method-assign]


def test_reload_does_not_take_back_a_vshard_a_newer_activation_owns() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        fail_next_commit(c)
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        r = fakeredis.FakeAsyncRedis(server=server)
        keys = Keys("u")
        await r.set(keys.owner(SMAP.vshard("A")), "0:newer.1:99")  # one vshard changed hands meanwhile
        owners = [await r.get(keys.owner(vs)) for vs in range(SMAP.vshards)]
        epoch = await r.get(keys.epoch(0))
        commits: list[Any] = []
        real_commit = c.store.commit

        async def recorded(plans: Any) -> None:
            commits.append(plans)
            await real_commit(plans)

        c.store.commit = recorded  # type: ignore[method-assign]
        # Both the batch that reloads and one waiting for that reload are refused, before deciding.
        both = await asyncio.gather(
            c.apply_batch([order("o1", "1")]), c.apply_batch([order("o2", "2")]), return_exceptions=True
        )
        assert [type(e) for e in both] == [FencedError, FencedError] and c.fenced and commits == []
        # Nothing re-claimed, not even the vshards this shard still owned; no epoch taken.
        assert [await r.get(keys.owner(vs)) for vs in range(SMAP.vshards)] == owners
        assert await r.get(keys.epoch(0)) == epoch
        with pytest.raises(FencedError):  # and it stays retired
            await c.apply_batch([order("o1", "1")])
        assert idem_layout.read(fakeredis.FakeRedis(server=server), keys.idem_registry(), "o1") is None

    asyncio.run(go())


def test_reload_fences_the_commits_of_the_epoch_before() -> None:
    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        old = c.store.token
        fail_next_commit(c)
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        await c.apply_batch([order("o2", "2")])
        r = fakeredis.FakeAsyncRedis(server=server)
        new = c.store.token
        assert new is not None and new != old and await r.get(Keys("u").epoch(0)) == b"2"
        assert {await r.get(Keys("u").owner(vs)) for vs in range(SMAP.vshards)} == {new.encode()}
        c.store.token = old  # a commit sent under the old epoch, reaching Redis only now
        with pytest.raises(FencedError):
            await c.store.commit([{SMAP.vshard("A"): VShardWrites(stock={"A": "10:0:9"})}])
        c.store.token = new
        assert c.get("A") == {"sku": "A", "available": 9, "on_hand": 9, "reserved": 0, "version": 2}
        assert SkuRecord.decode(await r.hget(Keys("u").stock(SMAP.vshard("A")), "A")).available == 9

    asyncio.run(go())


def test_a_reclaim_whose_reply_was_lost_does_not_fence_the_shard() -> None:
    """It ran and set a token the shard never learned: the retry must accept it as the shard's own."""

    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        fail_next_commit(c)
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        real = c.store._reclaim

        async def ran_but_reply_lost(**kw: Any) -> Any:
            await real(**kw)
            raise redis.TimeoutError("no reply from Redis")

        c.store._reclaim = ran_but_reply_lost  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        c.store._reclaim = real
        d = (await c.apply_batch([order("o1", "1")])).decisions
        assert d[0]["lines"][0]["accepted"] == 1 and not c.fenced
        assert c.get("A")["available"] == 9  # type: ignore[index]

    asyncio.run(go())


def test_a_reclaim_reaching_redis_after_its_retry_changes_nothing() -> None:
    """Sent, given up on, then delivered late: the retry's epoch must stay the one that owns the vshards."""

    async def go() -> None:
        server = fakeredis.FakeServer()
        c = await core(server)
        await c.apply_batch([{"kind": "stock_set", "key": "s", "sku": "A", "quantity": 10}])
        fail_next_commit(c)
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        real = c.store._reclaim
        delayed: list[dict[str, Any]] = []

        async def still_on_its_way(**kw: Any) -> Any:
            delayed.append(kw)
            raise redis.TimeoutError("no reply from Redis")

        c.store._reclaim = still_on_its_way  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable):
            await c.apply_batch([order("o1", "1")])
        c.store._reclaim = real
        await c.apply_batch([order("o1", "1")])
        with pytest.raises(redis.ResponseError, match="FENCED"):
            await real(**delayed[0])
        r = fakeredis.FakeAsyncRedis(server=server)
        token = c.store.token
        assert token is not None and await r.get(Keys("u").owner(SMAP.vshard("A"))) == token.encode()
        d = (await c.apply_batch([order("o2", "2")])).decisions
        assert d[0]["lines"][0]["accepted"] == 1 and c.get("A")["available"] == 8  # type: ignore[index]

    asyncio.run(go())
