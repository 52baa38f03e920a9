"""Redis keeps only the working set (issue 18 item 1): order records expire after their channel's
retention window, markers outlive them, and a late event for an expired order is ``needs_decision``
(no stock moves, an audit entry shows it, a retry adds nothing) rather than a second sale or a
cancel parked for ever. Short windows on the real Redis; waits are on conditions, never sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from engine import audit_entries
from engine.config import ConfigError, load_config, order_windows
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, OrderWindows, idem_layout, order_records
from engine.store.buckets import bucket_span
from engine.store.order_records import ORDER_BUCKETS
from tests.conftest import REDIS_URL

SMAP = ShardMap(1, vshards=16)
VS = SMAP.vshard("A")


def placed(key: str, order_id: str, q: int = 1, version: int = 1, channel: str = "x") -> dict[str, Any]:
    return {
        "kind": "order_placed" if version == 1 else "order_updated",
        "key": key,
        "channel": channel,
        "order_id": order_id,
        "version": version,
        "lines": [{"sku": "A", "quantity": q}],
    }


def cancel(key: str, order_id: str, version: int | None = None) -> dict[str, Any]:
    return {"kind": "order_cancelled", "key": key, "channel": "x", "order_id": order_id,
            "skus": ["A"], "version": version, "restock": True}  # fmt: skip


async def until(check: Callable[[], bool], within_s: float = 30.0) -> None:
    """Poll a condition (a key expiring on Redis's clock) until it holds, failing after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.02)


async def started(prefix: str, windows: OrderWindows, idem_ttl_s: int = 3600) -> ShardCore:
    client = aioredis.Redis.from_url(REDIS_URL)
    core = await ShardCore(0, SMAP, client, Keys(prefix), idem_ttl_s=idem_ttl_s, windows=windows).start()
    await core.apply_batch([{"kind": "stock_set", "key": "seed", "sku": "A", "quantity": 10}])
    return core


def held(r: redis.Redis, prefix: str, order_id: str, channel: str = "x") -> list[str]:
    """The bucket hashes holding the order's record on ``VS`` (``engine.store.order_records``)."""
    return order_records.held(r, Keys(prefix), VS, channel, order_id)


def marked(r: redis.Redis, prefix: str, order_id: str) -> list[str]:
    """The bucket hashes holding the order's marker on ``VS`` (``engine.store.order_windows``)."""
    return order_records.held(r, Keys(prefix), VS, "x", order_id, marker=True)


def redis_now(r: redis.Redis) -> int:
    return int(r.time()[0])  # type: ignore[index]


def audit(r: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    return [audit_entries.decode(f) for _, f in r.xrange(Keys(prefix).audit(VS))]  # type: ignore[misc]


def test_an_order_record_expires_after_its_window_and_a_late_event_needs_a_decision(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        core = await started(prefix, OrderWindows(retention_s=1, marker_s=60))
        (d,) = (await core.apply_batch([placed("o1", "1", q=2)])).decisions
        assert d["outcome"] == "applied" and core.get("A")["available"] == 8  # type: ignore[index]
        (record,) = held(redis_client, prefix, "1")
        assert 0 < redis_client.pttl(record) <= 2000  # a 1 s window in 1 s buckets
        await until(lambda: not held(redis_client, prefix, "1"))

        late = [cancel("c1", "1", version=2), placed("u1", "1", q=1, version=3), placed("o1-again", "1", q=2)]
        decisions = (await core.apply_batch(late)).decisions
        assert [d["outcome"] for d in decisions] == ["needs_decision"] * 3
        assert all(d["lines"][0] == {"sku": "A", "outcome": "needs_decision", "delta": 0,
                                     "available": 8, "version": 2} for d in decisions)  # fmt: skip
        assert core.get("A")["available"] == 8  # type: ignore[index]  # neither returned nor taken again
        assert not held(redis_client, prefix, "1")  # nothing parked, no record brought back
        shown = [e for e in audit(redis_client, prefix) if e["outcome"] == "needs_decision"]
        assert [e["key"] for e in shown] == ["c1", "u1", "o1-again"]

        # a retry replays the recorded answer and adds no audit entry
        again = (await core.apply_batch([cancel("c1", "1", version=2)])).decisions
        assert again == decisions[:1]
        assert len([e for e in audit(redis_client, prefix) if e["outcome"] == "needs_decision"]) == 3
        await core.store.r.aclose()

    asyncio.run(go())


def test_markers_expire_after_their_window_and_the_order_id_is_then_new(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        core = await started(prefix, OrderWindows(retention_s=1, marker_s=2))
        await core.apply_batch([placed("o1", "1")])
        (seen,) = marked(redis_client, prefix, "1")
        assert redis_client.hlen(seen) == 1 and redis_client.hget(seen, redis_client.hkeys(seen)[0]) == b""
        assert 1 <= redis_client.ttl(seen) <= 2 + core.store.windows.bucket_s
        await until(lambda: not marked(redis_client, prefix, "1"))
        assert not held(redis_client, prefix, "1")
        # past every window the order is forgotten: the documented limit (a replay is a new sale)
        (d,) = (await core.apply_batch([placed("o1-replayed", "1")])).decisions
        assert d["outcome"] == "applied" and d["lines"][0]["accepted"] == 1
        await core.store.r.aclose()

    asyncio.run(go())


def test_retention_is_per_channel(prefix: str, redis_client: redis.Redis) -> None:
    async def go() -> None:
        windows = OrderWindows(retention_s=100, marker_s=1000, channels={"slow": 500})
        core = await started(prefix, windows)
        await core.apply_batch([placed("o1", "1"), placed("s1", "1", channel="slow")])
        (fast,), (slow,) = held(redis_client, prefix, "1"), held(redis_client, prefix, "1", "slow")
        # a window to a third more (its records' bucket expires whole at the bucket's end)
        assert 99 <= redis_client.ttl(fast) <= 100 + bucket_span(100, ORDER_BUCKETS)
        assert 499 <= redis_client.ttl(slow) <= 500 + bucket_span(500, ORDER_BUCKETS)
        await core.store.r.aclose()

    asyncio.run(go())


def test_retention_is_refreshed_by_each_version_and_the_replaced_copy_deleted(
    prefix: str, redis_client: redis.Redis
) -> None:
    """An edit moves the record to the current bucket (its window starts again) and deletes the
    copy it replaces; a version that changes nothing writes nothing, so it refreshes nothing."""

    async def go() -> None:
        core = await started(prefix, OrderWindows(retention_s=30, marker_s=1000))
        span = bucket_span(30, ORDER_BUCKETS)
        await core.apply_batch([placed("o1", "1")])
        (first,) = held(redis_client, prefix, "1")
        placed_in = redis_now(redis_client) // span
        await until(lambda: redis_now(redis_client) // span > placed_in)  # a later bucket has begun
        (d,) = (await core.apply_batch([placed("u1", "1", q=3, version=2)])).decisions
        assert d["outcome"] == "applied" and d["lines"][0]["delta"] == -2  # an edit, decided on the record
        (second,) = held(redis_client, prefix, "1")  # one copy, in the newer bucket
        assert second != first and redis_client.ttl(second) > redis_client.ttl(first)
        (d,) = (await core.apply_batch([placed("u1-dup", "1", q=3, version=2)])).decisions
        assert d["outcome"] == "duplicate_order" and held(redis_client, prefix, "1") == [second]
        # read back from Redis alone (a fresh shard): the edit's record is the one found
        await core.store.r.aclose()
        again = await started(prefix, OrderWindows(retention_s=30, marker_s=1000))
        (d,) = (await again.apply_batch([placed("u2", "1", q=3, version=3)])).decisions
        assert d["outcome"] == "applied" and d["lines"][0]["delta"] == 0
        await again.store.r.aclose()

    asyncio.run(go())


def test_idempotency_records_and_parked_cancels_expire_with_the_idempotency_window(
    prefix: str, redis_client: redis.Redis
) -> None:
    async def go() -> None:
        core = await started(prefix, OrderWindows(retention_s=100, marker_s=1000), idem_ttl_s=1)
        (d,) = (await core.apply_batch([cancel("c9", "9")])).decisions
        assert d["outcome"] == "parked"
        registry = Keys(prefix).idem_registry()
        idem = lambda: idem_layout.read(redis_client, registry, "c9")  # noqa: E731
        (parked,) = held(redis_client, prefix, "9")
        assert redis_client.ttl(parked) <= 1 + bucket_span(1, ORDER_BUCKETS) and idem() is not None
        assert not marked(redis_client, prefix, "9")  # a parked cancel leaves no marker
        await until(lambda: not held(redis_client, prefix, "9") and idem() is None)
        (d,) = (await core.apply_batch([placed("o9", "9")])).decisions
        assert d["outcome"] == "applied"  # the cancel's window ended before its order came (as before)
        await core.store.r.aclose()

    asyncio.run(go())


def test_windows_are_config_keys_checked_against_each_other() -> None:
    config = load_config(
        env={"SKUSYNC_ENGINE_ORDER_RETENTION_HOURS": "48", "SKUSYNC_ENGINE_ORDER_MARKER_DAYS": "30"}
    )
    assert order_windows(config) == {"retention_s": 48 * 3600, "marker_s": 30 * 86_400, "channels": {}}
    assert OrderWindows.of(order_windows(load_config(env={}))) == OrderWindows()
    with pytest.raises(ConfigError, match="order_marker_days must cover"):
        load_config(
            env={"SKUSYNC_ENGINE_ORDER_RETENTION_HOURS": "2400", "SKUSYNC_ENGINE_ORDER_MARKER_DAYS": "90"}
        )
    with pytest.raises(ConfigError, match="order_retention_hours"):
        load_config(env={"SKUSYNC_ENGINE_ORDER_RETENTION_HOURS": "0"})
    with pytest.raises(ValueError, match="marker window must cover"):
        OrderWindows(retention_s=10, marker_s=100, channels={"c": 200})


def test_a_channel_overrides_the_retention_within_the_marker_window(tmp_path: Any) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[channels]]\nid = "shop-1"\nkind = "shopify"\norder_retention_hours = 24\n')
    assert order_windows(load_config(path, env={}))["channels"] == {"shop-1": 24 * 3600}
    path.write_text('[[channels]]\nid = "shop-1"\nkind = "shopify"\norder_retention_hours = 87600\n')
    with pytest.raises(ConfigError, match=r"beyond engine\.order_marker_days"):
        load_config(path, env={})
