"""``GET /v1/audit`` and ``GET /v1/orders`` with ``[history] postgres_url``: paged through
PostgreSQL and the unarchived Redis tail, in the shapes of the Redis listing; an archiver on Ray.

Real Ray, Redis, PostgreSQL (a database of the module's own) and HTTP over loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis
import redis.asyncio as aioredis

from actors.gateway.views import StoreViews
from actors.runtime import ensure_archiver, kill_archiver
from engine.config import Config
from engine.routing import ShardMap
from engine.store import Keys
from tests.integration.support import TOKEN, Gw, gateway_config, new_prefix, running_gateway, wait_until
from tests.integration.test_history_archive import fresh_database, stored

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def gw(ray_cluster: None, redis_client: redis.Redis, pg_url: str) -> Iterator[Gw]:
    raw = gateway_config(new_prefix()).model_dump(mode="python")
    raw["history"] = {"postgres_url": pg_url, "interval_s": 0.05}
    config = Config.model_validate(raw)
    with running_gateway(config, redis_client) as running:
        yield running


def get(gw: Gw, path: str, **params: Any) -> Any:
    response = httpx.get(f"{gw.url}{path}", params=params, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def order(gw: Gw, oid: str, lines: list[tuple[str, int]]) -> None:
    body = {"channel": "pos", "order_id": oid, "lines": [{"sku": s, "quantity": q} for s, q in lines]}
    response = httpx.post(
        f"{gw.url}/v1/orders", json=body, headers={**AUTH, "Idempotency-Key": oid}, timeout=30
    )
    assert response.status_code == 201, response.text


def test_audit_and_orders_page_through_history_and_the_tail(gw: Gw, pg_url: str) -> None:
    for sku in ("hx-a", "hx-b", "hx-c"):
        gw.set_stock(sku, 100)
    for i in range(12):
        order(gw, f"hist-{i}", [("hx-a", 1), ("hx-b" if i % 2 else "hx-c", 2)])
    # before any archiver: everything is in the tail, and still listed
    first = get(gw, "/v1/audit", sku="hx-a", limit=5)
    assert len(first["entries"]) == 5 and first["next_cursor"]
    assert set(first["entries"][0]) >= {"id", "event_id", "kind", "channel", "order_id", "delta", "time"}
    ensure_archiver(gw.config, gw.config.store.redis_url or "")
    try:
        wait_until(lambda: len(stored(pg_url)) >= 3 + 2 * 24, "the archiver storing the entries")
        for i in range(12, 15):  # these may stay in the tail for a while
            order(gw, f"hist-{i}", [("hx-a", 1)])
        seen, cursor = [], None
        while True:
            page = get(gw, "/v1/audit", sku="hx-a", limit=4, **({"cursor": cursor} if cursor else {}))
            seen += [(e["id"], e["event_id"]) for e in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 1 + 2 * 15  # the stock set; each line's reserve and commit
        by_order = get(gw, "/v1/audit", order_id="hist-3")["entries"]
        assert {e["sku"] for e in by_order} == {"hx-a", "hx-b"}
        orders, cursor = [], None
        while True:
            page = get(gw, "/v1/orders", channel="pos", limit=4, **({"cursor": cursor} if cursor else {}))
            orders += page["orders"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        ids = [o["order_id"] for o in orders if o["order_id"].startswith("hist-")]
        assert ids == [f"hist-{i}" for i in reversed(range(15))]
        assert all(o["status"] == "accepted" for o in orders)
        assert {ln["sku"] for ln in orders[-1]["lines"]} == {"hx-a", "hx-c"}
        bad = httpx.get(f"{gw.url}/v1/audit", params={"cursor": "nope"}, headers=AUTH, timeout=30)
        assert bad.status_code == 422
    finally:
        kill_archiver(gw.config)


@pytest.fixture(scope="module")
def gw_short(ray_cluster: None, redis_client: redis.Redis, pg_url: str) -> Iterator[Gw]:
    """A second deployment whose order records leave Redis one second after their last change."""
    raw = gateway_config(new_prefix()).model_dump(mode="python")
    raw["history"] = {"postgres_url": pg_url, "interval_s": 0.05}
    raw["engine"]["order_retention_hours"] = 1 / 3600
    config = Config.model_validate(raw)
    with running_gateway(config, redis_client) as running:
        yield running


def versions_stored(pg_url: str, order_id: str) -> int:
    with psycopg.connect(pg_url) as c:
        try:
            row = c.execute("SELECT count(*) FROM order_versions WHERE order_id = %s", (order_id,)).fetchone()
        except psycopg.errors.UndefinedTable:  # the archiver has not migrated the database yet
            return 0
    return int(row[0]) if row else 0


def test_an_order_whose_redis_record_expired_is_listed_from_its_versions(gw_short: Gw, pg_url: str) -> None:
    gw, (a, b) = gw_short, two_vshards(gw_short)
    for sku in (a, b):
        gw.set_stock(sku, 10)
    base = {"channel": "shop-us", "order_id": "exp-1"}
    gw.shards.submit([
        {**base, "kind": "order_placed", "key": "exp-v1", "version": 1,
         "lines": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 3}]},
        {**base, "kind": "order_updated", "key": "exp-v2", "version": 2,
         "lines": [{"sku": a, "quantity": 4}, {"sku": b, "quantity": 3}]},
        {**base, "kind": "order_cancelled", "key": "exp-v3", "version": 3, "skus": [b]},
    ])  # fmt: skip
    assert records_of(gw, "shop-us", "exp-1")  # live first
    ensure_archiver(gw.config, gw.config.store.redis_url or "")
    try:
        wait_until(lambda: versions_stored(pg_url, "exp-1") == 3, "the archiver storing three versions")
        wait_until(lambda: not records_of(gw, "shop-us", "exp-1"), "the order records expiring")
        (shown,) = get(gw, "/v1/orders", channel="shop-us")["orders"]
    finally:
        kill_archiver(gw.config)
    assert (shown["order_id"], shown["status"]) == ("exp-1", "partially_cancelled")
    assert {ln["sku"]: ln["accepted"] for ln in shown["lines"]} == {a: 4, b: 0}
    assert [v["event_id"] for v in shown["versions"]] == ["exp-v1", "exp-v2", "exp-v3"]
    assert [v["status"] for v in shown["versions"]] == ["accepted", "accepted", "partially_cancelled"]
    assert {ln["sku"]: ln["accepted"] for ln in shown["versions"][1]["lines"]} == {a: 4, b: 3}


def records_of(gw: Gw, channel: str, order_id: str) -> list[dict[str, Any]]:
    """The order's records as the gateway reads them, wherever the store keeps them."""

    async def read() -> list[dict[str, Any]]:
        client = aioredis.Redis.from_url(gw.config.store.redis_url or "")
        try:
            views = StoreViews(
                client,
                Keys(gw.config.store.key_prefix),
                ShardMap(gw.config.engine.shards, gw.config.engine.vshards),
            )
            return await views.order_records(channel, order_id)
        finally:
            await client.aclose()

    return asyncio.run(read())


def two_vshards(gw: Gw) -> tuple[str, str]:
    a = "exp-a"
    return a, next(s for s in (f"exp-b{i}" for i in range(1000)) if gw.vshard(s) != gw.vshard(a))
