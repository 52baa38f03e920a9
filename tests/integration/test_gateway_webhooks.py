"""Webhooks end to end over loopback: real signed payloads, the bad-input matrix, duplicates, metrics.

One gateway (uvicorn in a thread, the session's Ray, two shard actors, the real Redis) serves the
whole module under a key prefix of its own; each test uses SKUs of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.shopify.inbound import signature as shopify_signature
from adapters.woocommerce.inbound import signature as woo_signature
from tests.integration.support import SHOP_SECRET, TOKEN, VECTORS, WOO_SECRET, Gw

pytestmark = pytest.mark.integration


def shopify_order(order_id: int, lines: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "updated_at": "2025-01-01T00:00:00Z",
        "line_items": [{"sku": s, "quantity": q, "variant_id": 1} for s, q in lines],
    }


def shopify_headers(
    body: bytes, event_id: str, topic: str = "orders/create", secret: str = SHOP_SECRET
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_signature(secret, body),
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Shop-Domain": "test.myshopify.com",
    }


def post(gw: Gw, channel: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gw.url}/webhooks/{channel}", content=body, headers=headers, timeout=30)


def new_sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


# -- the happy path and the vectors -------------------------------------------------------------
def test_signed_order_is_decided_durably_and_answered_with_its_decisions(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 5)
    body = orjson.dumps(shopify_order(1001, [(sku, 2)]))
    r = post(gw, "shop-us", body, shopify_headers(body, "ev-1001"))
    assert r.status_code == 200, r.text
    (decision,) = r.json()["decisions"]
    assert decision["key"] == "shop-us:shopify:orders/create:1001:ev-1001"  # scoped to the channel
    assert (
        decision["lines"][0] | {"outcome": "accepted", "accepted": 2, "available": 3} == decision["lines"][0]
    )
    assert gw.shards.get(sku)["available"] == 3  # type: ignore[index]
    entries = [e for e in gw.audit_of(sku) if e["key"] == decision["key"]]
    assert [(e["delta"], e["outcome"]) for e in entries] == [(-2, "accepted")]


def test_sale_beyond_stock_is_still_200_with_the_line_insufficient(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 1)
    body = orjson.dumps(shopify_order(1002, [(sku, 3)]))
    r = post(gw, "shop-us", body, shopify_headers(body, "ev-1002"))
    assert r.status_code == 200
    line = r.json()["decisions"][0]["lines"][0]
    assert (line["outcome"], line["requested"], line["accepted"], line["available"]) == (
        "insufficient",
        3,
        1,
        0,
    )


def test_unknown_sku_is_recorded_not_dropped(gw: Gw) -> None:
    sku = new_sku()
    body = orjson.dumps(shopify_order(1003, [(sku, 1)]))
    r = post(gw, "shop-us", body, shopify_headers(body, "ev-1003"))
    assert r.status_code == 200
    assert r.json()["decisions"][0]["lines"][0]["outcome"] == "unknown_sku"
    assert [e["outcome"] for e in gw.audit_of(sku)] == ["unknown_sku"]


def test_same_event_id_on_two_channels_are_two_events(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body_a = orjson.dumps(shopify_order(1004, [(sku, 1)]))
    body_b = orjson.dumps(shopify_order(1005, [(sku, 1)]))
    headers = shopify_headers(body_b, "shared-id", secret=VECTORS["shopify_webhook"]["secret"])
    assert post(gw, "shop-us", body_a, shopify_headers(body_a, "shared-id")).status_code == 200
    assert post(gw, "vec-shop", body_b, headers).status_code == 200
    assert gw.shards.get(sku)["available"] == 8  # type: ignore[index]


def test_shared_signature_vectors_verify_through_the_gateway(gw: Gw) -> None:
    shop, woo = VECTORS["shopify_webhook"], VECTORS["woocommerce_webhook"]
    shop_headers = {
        "X-Shopify-Hmac-Sha256": shop["expected"],
        "X-Shopify-Topic": "shop/update",
        "X-Shopify-Event-Id": "vector",
    }
    r = post(gw, "vec-shop", shop["body"].encode(), shop_headers)
    assert (r.status_code, r.json()) == (200, {"decisions": [], "note": "ignored topic shop/update"})
    woo_headers = {"X-WC-Webhook-Signature": woo["expected"], "X-WC-Webhook-Topic": "product.updated"}
    r = post(gw, "vec-woo", woo["body"].encode(), woo_headers)
    assert (r.status_code, r.json()) == (200, {"decisions": [], "note": "ignored topic product.updated"})
    # the vector's signature is over exactly those bytes: one byte more and it fails
    r = post(gw, "vec-shop", shop["body"].encode() + b" ", shop_headers)
    assert r.status_code == 401


def test_woocommerce_order_and_creation_ping(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 4)
    order = {
        "id": 77,
        "status": "processing",
        "date_modified": "2025-01-01T10:00:00",
        "date_modified_gmt": "2025-01-01T15:00:00",
        "line_items": [{"sku": sku, "quantity": 1, "product_id": 5}],
    }
    body = orjson.dumps(order)
    headers = {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": woo_signature(WOO_SECRET, body),
    }
    r = post(gw, "woo-eu", body, headers)
    assert r.status_code == 200 and r.json()["decisions"][0]["lines"][0]["outcome"] == "accepted"
    before = gw.trace(sku)
    ping = post(gw, "woo-eu", b"webhook_id=12", {"Content-Type": "application/x-www-form-urlencoded"})
    assert (ping.status_code, ping.json()) == (200, {"decisions": [], "note": "ping"})
    assert gw.trace(sku) == before


# -- the bad-input matrix: documented status, no trace ------------------------------------------
def bad_inputs(sku: str) -> list[tuple[str, str, bytes, dict[str, str], int]]:
    """(case, channel, body, headers, expected status) for deliveries that must change nothing."""
    good = orjson.dumps(shopify_order(2001, [(sku, 1)]))
    pretty = json.dumps(orjson.loads(good), indent=2).encode()  # same JSON, other bytes
    no_sig = {k: v for k, v in shopify_headers(good, "e1").items() if k != "X-Shopify-Hmac-Sha256"}

    def signed(body: bytes, event: str = "e2") -> dict[str, str]:
        return shopify_headers(body, event)

    wrong_types = orjson.dumps(shopify_order(2002, [(sku, "1")]))
    items_not_list = orjson.dumps({"id": 2003, "line_items": {"sku": sku}})
    bool_id = orjson.dumps({"id": True, "line_items": [{"sku": sku, "quantity": 1}]})
    zero = orjson.dumps(shopify_order(2004, [(sku, 0)]))
    negative = orjson.dumps(shopify_order(2005, [(sku, -2)]))
    woo_body = orjson.dumps(
        {
            "id": 9,
            "status": "processing",
            "date_modified_gmt": "2025-01-01T15:00:00",
            "line_items": [{"sku": sku, "quantity": -1}],
        }
    )
    woo_headers = {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": woo_signature(WOO_SECRET, woo_body),
    }
    return [
        ("missing signature", "shop-us", good, no_sig, 401),
        ("wrong signature", "shop-us", good, shopify_headers(good, "e1", secret="not-the-secret"), 401),
        ("signature over a re-serialised body", "shop-us", good, {**signed(pretty)}, 401),
        (
            "woocommerce signature from another secret",
            "woo-eu",
            woo_body,
            {**woo_headers, "X-WC-Webhook-Signature": woo_signature("other", woo_body)},
            401,
        ),
        ("malformed JSON", "shop-us", good[:-3], signed(good[:-3]), 400),
        ("JSON that is not an object", "shop-us", b"[1, 2]", signed(b"[1, 2]"), 400),
        ("quantity as a string", "shop-us", wrong_types, signed(wrong_types), 400),
        ("line_items not a list", "shop-us", items_not_list, signed(items_not_list), 400),
        ("boolean order id", "shop-us", bool_id, signed(bool_id), 400),
        ("zero quantity", "shop-us", zero, signed(zero), 400),
        ("negative quantity", "shop-us", negative, signed(negative), 400),
        ("woocommerce negative quantity", "woo-eu", woo_body, woo_headers, 400),
        (
            "missing topic",
            "shop-us",
            good,
            {k: v for k, v in signed(good).items() if k != "X-Shopify-Topic"},
            400,
        ),
        (
            "missing event id",
            "shop-us",
            good,
            {k: v for k, v in signed(good).items() if k != "X-Shopify-Event-Id"},
            400,
        ),
        ("unknown channel", "no-such-shop", good, signed(good), 404),
    ]


@pytest.mark.parametrize("case", [c[0] for c in bad_inputs("x")])
def test_bad_input_gets_its_status_and_leaves_no_trace(gw: Gw, case: str) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    _, channel, body, headers, status = next(c for c in bad_inputs(sku) if c[0] == case)
    before = gw.trace(sku)
    r = post(gw, channel, body, headers)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    assert gw.trace(sku) == before


def test_other_methods_and_paths_keep_the_routers_answers(gw: Gw) -> None:
    """Webhook POSTs skip Starlette's router (``GatewayApp``); everything else still meets it."""
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = orjson.dumps(shopify_order(3101, [(sku, 1)]))
    before = gw.trace(sku)
    assert httpx.get(f"{gw.url}/webhooks/shop-us", timeout=30).status_code == 405
    slash = httpx.post(f"{gw.url}/webhooks/shop-us/", content=body, headers=shopify_headers(body, "slash"))
    assert slash.status_code == 307 and slash.headers["location"].endswith("/webhooks/shop-us")
    for path in ("/webhooks/", "/webhooks/shop-us/extra"):
        r = httpx.post(f"{gw.url}{path}", content=body, headers=shopify_headers(body, "nowhere"), timeout=30)
        assert r.status_code == 404, path
    assert gw.trace(sku) == before


def test_two_mib_body_is_413_declared_or_streamed_and_leaves_no_trace(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    order = shopify_order(3001, [(sku, 1)])
    order["note"] = "x" * (2 * 1024 * 1024)
    body = orjson.dumps(order)
    before = gw.trace(sku)
    r = post(gw, "shop-us", body, shopify_headers(body, "big"))  # Content-Length says 2 MiB up front
    assert r.status_code == 413 and "body over" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, refused once past the cap
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = httpx.post(
        f"{gw.url}/webhooks/shop-us", content=chunks(), headers=shopify_headers(body, "big2"), timeout=30
    )
    assert r.status_code == 413
    assert gw.trace(sku) == before


def test_five_concurrent_deliveries_of_one_event_decide_once_and_answer_alike(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = orjson.dumps(shopify_order(4001, [(sku, 3)]))
    headers = shopify_headers(body, "dup-4001")

    async def deliver_five() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(client.post(f"{gw.url}/webhooks/shop-us", content=body, headers=headers) for _ in range(5))
            )

    answers = asyncio.run(deliver_five())
    assert [a.status_code for a in answers] == [200] * 5
    assert len({a.content for a in answers}) == 1  # five identical answers
    assert [e["key"] for e in gw.audit_of(sku)].count("shop-us:shopify:orders/create:4001:dup-4001") == 1
    assert gw.shards.get(sku)["available"] == 7  # type: ignore[index]
    late = post(gw, "shop-us", body, headers)  # a retry after the fact: the first answer again
    assert late.content == answers[0].content


def test_metrics_count_decisions_latency_and_statuses_per_channel(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = orjson.dumps(shopify_order(5001, [(sku, 1)]))
    assert post(gw, "shop-us", body, shopify_headers(body, "m-1")).status_code == 200
    assert post(gw, "shop-us", body, shopify_headers(body, "m-2", secret="bad")).status_code == 401
    assert post(gw, "nope", body, shopify_headers(body, "m-3")).status_code == 404
    assert httpx.get(f"{gw.url}/metrics").status_code == 401
    text = httpx.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    for needle in (
        'skusync_decisions_total{outcome="applied"}',
        'skusync_decision_lines_total{outcome="accepted"}',
        'skusync_webhook_seconds_bucket{channel="shop-us",le="0.05"}',
        'skusync_webhooks_total{channel="shop-us",status="200"}',
        'skusync_webhooks_total{channel="shop-us",status="401"}',
        'skusync_webhooks_total{channel="unknown",status="404"}',
        "skusync_gateway_batch_events_count",
    ):
        assert needle in text, needle
    assert 'channel="nope"' not in text
