"""History without ``[history] postgres_url``: ``GET /v1/audit`` and ``GET /v1/orders`` paged from the
Redis streams by a bounded scan (``actors.gateway.redis_history``).

The real Redis (a key prefix of each test's own); entries written as ``commit.lua``'s first form
(``d``: JSON), which every reader decodes; the last test goes through the gateway over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import redis
import redis.asyncio as aioredis

from actors.gateway.redis_history import Candidate, RedisHistory, TooDeep
from engine.history.pages import AuditFilter
from engine.history.streams import INVALID_VSHARD, stream_key
from engine.routing import ShardMap
from engine.store import Keys
from tests.conftest import REDIS_URL
from tests.integration.support import TOKEN, Gw

pytestmark = pytest.mark.integration
SMAP = ShardMap(1, vshards=4)
SHORT = [0]
"""Orders pages that came back short with a cursor (``list_orders``)."""
T0 = time.time()
Row = tuple[int, int, int]


def add(
    r: redis.Redis, keys: Keys, i: int, order: int | None = None, channel: str = "shop", sku: str = ""
) -> Row:
    """Entry ``i`` (time ``T0 + i``) of ``sku`` (``s<i % 5>`` by default) on its vshard's stream."""
    sku = sku or f"s{i % 5}"
    doc = {
        "key": f"ev-{i}", "kind": "order_placed" if order is not None else "stock_set",
        "channel": channel if order is not None else None,
        "order_id": None if order is None else f"o{order}", "sku": sku, "delta": -1, "before": 5,
        "after": 4, "version": i, "outcome": "accepted", "at": T0 + i,
    }  # fmt: skip
    vs = SMAP.vshard(sku)
    raw = r.xadd(stream_key(keys, vs), {"d": orjson.dumps(doc)})
    ms, seq = raw.decode().split("-")  # type: ignore[union-attr]
    return int(ms), int(seq), vs


def refused(r: redis.Redis, keys: Keys, i: int) -> Row:
    doc = {"key": f"bad-{i}", "kind": "order_placed", "channel": "shop", "order_id": f"o{i}", "sku": None,
           "outcome": "invalid", "reason": "quantity over 1000000", "at": T0 + i}  # fmt: skip
    ms, seq = r.xadd(stream_key(keys, INVALID_VSHARD), {"d": orjson.dumps(doc)}).decode().split("-")  # type: ignore[union-attr]
    return int(ms), int(seq), INVALID_VSHARD


def page_all(
    prefix: str, flt: AuditFilter, limit: int, max_scan: int, between: Callable[[int], None] | None = None
) -> tuple[list[Row], int]:
    """Every page of ``flt`` (calling ``between(n)`` after page n); the rows and how many pages
    came back short while still carrying a cursor (the scan stopped at its bound)."""

    async def go() -> tuple[list[Row], int]:
        client = aioredis.Redis.from_url(REDIS_URL)
        pages = RedisHistory(client, Keys(prefix), SMAP, max_scan=max_scan)
        seen: list[Row] = []
        short, cursor, n = 0, None, 0
        try:
            while True:
                got, cursor = await pages.audit(flt, limit, cursor)
                assert len(got) <= limit
                assert [e.position for e in got] == sorted((e.position for e in got), reverse=True)
                assert all(flt.matches(e.doc) for e in got)
                seen += [(e.ms, e.seq, e.vshard) for e in got]
                short += len(got) < limit and cursor is not None
                n += 1
                if between is not None:
                    between(n)
                if cursor is None:
                    return seen, short
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_audit_pages_return_every_row_once_while_rows_arrive(redis_client: redis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    rows = {add(redis_client, keys, i, order=i % 7) for i in range(80)} | {refused(redis_client, keys, 90)}
    arrived = []
    seen, _ = page_all(
        prefix, AuditFilter(), 7, 100_000, lambda n: arrived.append(add(redis_client, keys, 100 + n))
    )
    assert len(seen) == len(set(seen)) and set(seen) == rows  # rows added meanwhile are newer than any cursor
    assert arrived and not set(arrived) & set(seen)


def test_filters_and_a_scan_stopped_at_its_bound_go_on_from_where_it_stopped(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    rows = {
        i: add(redis_client, keys, i, order=i % 7, channel="shop" if i % 3 else "woo") for i in range(120)
    }
    stock = {i: add(redis_client, keys, 200 + i) for i in range(10)}  # no order, no channel
    cases = [
        (AuditFilter(order_id="o3"), {rows[i] for i in rows if i % 7 == 3}),
        (AuditFilter(channel="woo"), {rows[i] for i in rows if i % 3 == 0}),
        (AuditFilter(order_id="o2", channel="woo"), {rows[i] for i in rows if i % 7 == 2 and i % 3 == 0}),
        (AuditFilter(since=T0 + 100), {rows[i] for i in rows if i >= 100} | set(stock.values())),
        (
            AuditFilter(sku="s1", since=T0 + 50),
            {rows[i] for i in rows if i % 5 == 1 and i >= 50} | {stock[1], stock[6]},
        ),
    ]
    for flt, expected in cases:
        seen, short = page_all(prefix, flt, 5, 100_000)
        assert len(seen) == len(set(seen)) and set(seen) == expected, flt
        assert short == 0
        # a scan of 9 entries at a time: short pages with a cursor, and still every row once
        seen, short = page_all(prefix, flt, 5, 9)
        assert len(seen) == len(set(seen)) and set(seen) == expected, flt
        assert short > 0 or len(expected) < 5
    none, _ = page_all(prefix, AuditFilter(order_id="nobody"), 5, 9)
    assert none == []


def list_orders(
    prefix: str,
    limit: int,
    max_scan: int,
    since: float | None = None,
    between: Callable[[int], None] | None = None,
    channel: str | None = None,
    max_above: int | None = None,
) -> list[dict[str, Any]]:
    """Every page of the orders listing; pages that came back short with a cursor (the scan
    stopped at its bound) are counted in ``SHORT``."""

    async def go() -> list[dict[str, Any]]:
        client = aioredis.Redis.from_url(REDIS_URL)
        pages = RedisHistory(client, Keys(prefix), SMAP, max_scan=max_scan, max_above=max_above)

        async def resolve(cands: list[Candidate]) -> list[dict[str, Any]]:
            return [
                {"channel": c.channel, "order_id": c.order_id, "vshards": sorted(c.vshards)} for c in cands
            ]

        out: list[dict[str, Any]] = []
        cursor, n = None, 0
        try:
            while True:
                got, cursor = await pages.orders(channel, since, limit, cursor, resolve)
                assert len(got) <= limit
                SHORT[0] += len(got) < limit and cursor is not None
                out += got
                n += 1
                if between is not None:
                    between(n)
                if cursor is None:
                    return out
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_orders_pages_list_each_order_once_by_newest_activity_while_rows_arrive(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    newest: dict[str, Row] = {}
    for i in range(60):  # 20 orders, three lines each on SKUs of several vshards
        pos = add(redis_client, keys, i, order=i // 3, sku=f"s{i}")
        newest[f"o{i // 3}"] = max(newest.get(f"o{i // 3}", pos), pos)
    moved: list[str] = []
    created: list[str] = []

    def meanwhile(n: int) -> None:  # a new order, and new activity on an old one (it moves up)
        add(redis_client, keys, 1000 + n, order=100 + n)
        created.append(f"o{100 + n}")
        if n == 2:
            add(redis_client, keys, 2000, order=1)
            moved.append("o1")

    listed = list_orders(prefix, 3, 100_000, between=meanwhile)
    ids = [o["order_id"] for o in listed]
    assert len(ids) == len(set(ids))
    assert set(ids) - set(moved) == {f"o{k}" for k in range(20)} - set(moved)  # none new, none lost
    old = [newest[o] for o in ids if o in newest]  # entries in one ms of several streams: by vshard
    assert old == sorted(old, reverse=True)  # newest activity first
    vshards = {o["order_id"]: o["vshards"] for o in listed}
    assert vshards["o7"] == sorted({SMAP.vshard(f"s{i}") for i in (21, 22, 23)})
    everything = {f"o{k}" for k in range(20)} | set(created)
    recent = [o["order_id"] for o in list_orders(prefix, 4, 100_000, since=T0 + 45)]
    assert len(recent) == len(set(recent))
    assert set(recent) == {f"o{k}" for k in range(15, 20)} | set(created) | {"o1"}
    # orders of a rare channel, scans of 10 entries below the cursor: pages stop early and go on
    woo = {f"o{200 + k}" for k in range(3)}
    for k in range(3):
        add(redis_client, keys, 3000 + k, order=200 + k, channel="woo")
        for i in range(12):
            add(redis_client, keys, 3100 + 20 * k + i, order=300 + 20 * k + i)
    SHORT[0] = 0
    rare = [o["order_id"] for o in list_orders(prefix, 2, 10, channel="woo", max_above=1000)]
    assert sorted(rare) == sorted(woo) and SHORT[0] > 0
    again = [o["order_id"] for o in list_orders(prefix, 3, 1000)]
    assert len(again) == len(set(again)) and set(again) >= everything


def test_an_orders_page_deeper_than_one_scan_is_refused_not_listed_twice(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    for i in range(30):
        add(redis_client, keys, i, order=i)

    async def go() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        pages = RedisHistory(client, Keys(prefix), SMAP, max_scan=40, max_above=40)

        async def resolve(cands: list[Candidate]) -> list[dict[str, Any]]:
            return [{"channel": c.channel, "order_id": c.order_id} for c in cands]

        try:
            _, cursor = await pages.orders(None, None, 25, None, resolve)
            assert cursor is not None
            for i in range(30, 60):  # 30 newer entries: the cursor is now 55 entries down
                add(redis_client, keys, i, order=i)
            with pytest.raises(TooDeep):
                await pages.orders(None, None, 25, cursor, resolve)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_the_gateway_pages_and_filters_redis_only_history(gw: Gw) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def get(path: str, **params: Any) -> Any:
        response = httpx.get(f"{gw.url}{path}", params=params, headers=auth, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    gw.set_stock("ro-a", 100)
    started = time.time()
    for i in range(6):
        body = {"channel": "pos", "order_id": f"ro-{i}", "lines": [{"sku": "ro-a", "quantity": 1}]}
        r = httpx.post(
            f"{gw.url}/v1/orders", json=body, headers={**auth, "Idempotency-Key": f"ro-{i}"}, timeout=30
        )
        assert r.status_code == 201, r.text
    by_order = get("/v1/audit", order_id="ro-3")
    assert {e["order_id"] for e in by_order["entries"]} == {"ro-3"} and by_order["next_cursor"] is None
    assert len(by_order["entries"]) == 2  # reserve and commit
    seen, cursor = [], None
    while True:
        page = get(
            "/v1/audit", channel="pos", since=started - 1, limit=4, **({"cursor": cursor} if cursor else {})
        )
        seen += [e["id"] for e in page["entries"] if e["order_id"].startswith("ro-")]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 12
    orders, cursor = [], None
    while True:
        page = get(
            "/v1/orders", channel="pos", since=started - 1, limit=4, **({"cursor": cursor} if cursor else {})
        )
        orders += [o["order_id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [o for o in orders if o.startswith("ro-")] == [f"ro-{i}" for i in reversed(range(6))]
    bad = httpx.get(f"{gw.url}/v1/orders", params={"cursor": "nope"}, headers=auth, timeout=30)
    assert bad.status_code == 422
