"""Replaying one captured body costs no storage (issue 21 item 2), through the real gateway and Redis.

Shopify signs the body only, so anyone holding one captured ``orders/create`` delivery can re-send
it under ever new ``X-Shopify-Event-Id`` values. Each replay is answered ``duplicate_order``; before
the fix each also wrote an idempotency record holding the answer of every line (about 0.2 MB for a
1,000-line order), so replays grew Redis without bound. Now a replay writes nothing: the keys under
the deployment's prefix and their memory are the same after 10 replays and after 100. Counted per
key (``SCAN`` of the prefix, ``MEMORY USAGE`` with every element sampled), so the figures do not
depend on timing or on anything else using the Redis.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

import httpx
import orjson
import pytest
import redis

from adapters.shopify.inbound import signature
from tests.integration.support import SHOP_SECRET, Gw

pytestmark = pytest.mark.integration

LINES = 1000
"""Lines of the replayed order: the most one order event may carry (``engine.events``)."""


class Footprint(NamedTuple):
    keys: int
    idem_keys: int
    bytes: int


def footprint(r: redis.Redis, prefix: str) -> Footprint:
    """Keys under ``prefix``, of them idempotency records, and their memory in bytes."""
    keys = idem = size = 0
    for key in r.scan_iter(f"{prefix}:*", count=1000):
        keys += 1
        idem += key.startswith(f"{prefix}:idem:".encode())
        size += r.memory_usage(key, samples=0) or 0
    return Footprint(keys, idem, size)


def big_order(order_id: int, skus: list[str]) -> bytes:
    """An ``orders/create`` body as Shopify renders it, one unit of each SKU."""
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id}",
        "created_at": "2026-03-01T10:00:00-05:00",
        "updated_at": "2026-03-01T10:00:00-05:00",
        "cancelled_at": None,
        "line_items": [
            {"id": 10_000 + i, "sku": sku, "variant_id": 20_000 + i, "quantity": 1, "current_quantity": 1}
            for i, sku in enumerate(skus)
        ],
        "refunds": [],
    }
    return orjson.dumps(order)


def deliver(gw: Gw, body: bytes, event_id: str, topic: str = "orders/create") -> dict[str, Any]:
    """POST one signed delivery; its single decision."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature(SHOP_SECRET, body),
        "X-Shopify-Event-Id": event_id,
    }
    r = httpx.post(f"{gw.url}/webhooks/shop-us", content=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    (decision,) = r.json()["decisions"]
    return dict(decision)


def seed(gw: Gw, skus: list[str], quantity: int) -> None:
    events = [
        {"kind": "stock_set", "key": f"seed-{uuid.uuid4().hex}", "sku": s, "quantity": quantity} for s in skus
    ]
    decisions, _ = gw.shards.submit(events)
    assert {d["outcome"] for d in decisions} == {"applied"}


def replay(gw: Gw, body: bytes, event_ids: range) -> None:
    for n in event_ids:
        decision = deliver(gw, body, f"replay-{n}")
        assert decision["outcome"] == "duplicate_order", decision["outcome"]


def test_replays_of_a_large_body_leave_storage_as_it_was(gw: Gw) -> None:
    skus = [f"RP{uuid.uuid4().hex[:6]}-{i:04d}" for i in range(LINES)]
    seed(gw, skus, 3)
    body = big_order(7_001, skus)
    first = deliver(gw, body, "genuine")
    assert first["outcome"] == "applied" and len(first["lines"]) == LINES
    prefix = gw.config.store.key_prefix

    replay(gw, body, range(10))
    after_10 = footprint(gw.redis, prefix)
    replay(gw, body, range(10, 100))
    after_100 = footprint(gw.redis, prefix)
    growth = (after_10, after_100)
    assert after_100.keys == after_10.keys and after_100.idem_keys == after_10.idem_keys, growth
    assert after_100.bytes - after_10.bytes <= 1024, growth  # nothing per replay

    # A retried replay key is decided again alike; the genuine key still answers as it did.
    assert deliver(gw, body, "replay-3")["outcome"] == "duplicate_order"
    assert deliver(gw, body, "genuine") == first
    stock = gw.shards.get_many(skus)
    assert {rec["available"] for rec in stock.values() if rec is not None} == {2}
