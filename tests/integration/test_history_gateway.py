"""``GET /v1/audit`` and ``GET /v1/orders`` with ``[history] postgres_url``: paged through
PostgreSQL and the unarchived Redis tail, in the shapes of the Redis listing; an archiver on Ray.

Real Ray, Redis, PostgreSQL (a database of the module's own) and HTTP over loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from actors.runtime import ensure_archiver, kill_archiver
from engine.config import Config
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
