"""Every decision follows from signed bytes (issue 21 item 1): the attacks, end to end over loopback.

Shopify and WooCommerce sign the body only (``X-Shopify-Hmac-Sha256``, ``X-WC-Webhook-Signature``);
the topic, event, resource and delivery headers are not signed, so anyone holding one captured
delivery can re-send its body with any headers. Each test plays such an attacker against the real
gateway (uvicorn on loopback, two shard actors, the real Redis) and checks master stock.

On the adapters before the body-based rewrite (commit ced0c5b) the three Shopify attacks of the
issue succeed, so those tests fail there; the WooCommerce ones pass there too (that adapter already
read the status from the body) and guard that it stays so.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest

from adapters.shopify.inbound import signature as shopify_signature
from adapters.woocommerce.inbound import signature as woo_signature
from tests.integration.support import SHOP_SECRET, WOO_SECRET, Gw

pytestmark = pytest.mark.integration

PLACED = "2026-03-01T10:00:00-05:00"
EDITED = "2026-03-01T11:00:00-05:00"
CANCELLED = "2026-03-01T12:00:00-05:00"


def new_sku() -> str:
    return f"HS-{uuid.uuid4().hex[:8]}"


def available(gw: Gw, sku: str) -> int:
    rec = gw.shards.get(sku)
    assert rec is not None
    return int(rec["available"])


# -- Shopify ------------------------------------------------------------------------------------
def shopify_order(
    order_id: int, sku: str, quantity: int, updated: str = PLACED, current: int | None = None, **extra: Any
) -> bytes:
    """An order body as Shopify renders it for ``orders/*`` (one line item)."""
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id}",
        "created_at": PLACED,
        "updated_at": updated,
        "cancelled_at": None,
        "line_items": [
            {
                "id": order_id * 10,
                "sku": sku,
                "variant_id": 1,
                "quantity": quantity,
                "current_quantity": quantity if current is None else current,
            }
        ],
        "refunds": [],
    }
    order.update(extra)
    return orjson.dumps(order)


def shopify_cancelled(order_id: int, sku: str, quantity: int) -> bytes:
    """The same order cancelled with restock: its lines at 0, the restock as refund line items."""
    restock = {"line_item_id": order_id * 10, "quantity": quantity, "restock_type": "cancel"}
    refund = {"refund_line_items": [restock]}
    return shopify_order(
        order_id, sku, quantity, updated=CANCELLED, current=0, cancelled_at=CANCELLED, refunds=[refund]
    )


def to_shopify(gw: Gw, body: bytes, topic: str, event_id: str) -> list[dict[str, Any]]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_signature(SHOP_SECRET, body),
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2030-01-01T00:00:00Z",  # unsigned too: never read
    }
    r = httpx.post(f"{gw.url}/webhooks/shop-us", content=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    decisions: list[dict[str, Any]] = r.json()["decisions"]
    return decisions


def test_a_create_body_resent_as_a_cancel_gives_nothing_back(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = shopify_order(21_001, sku, 4)
    to_shopify(gw, body, "orders/create", "genuine-create")
    assert available(gw, sku) == 6
    for n, topic in enumerate(("orders/cancelled", "orders/updated", "refunds/create")):
        (decision,) = to_shopify(gw, body, topic, f"forged-{n}")
        assert decision["outcome"] == "duplicate_order", (topic, decision)
    assert available(gw, sku) == 6


def test_a_create_body_sent_as_a_cancel_first_does_not_void_the_real_create(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = shopify_order(21_002, sku, 4)
    to_shopify(gw, body, "orders/cancelled", "forged-first")  # before the genuine delivery
    (genuine,) = to_shopify(gw, body, "orders/create", "genuine-create")
    assert genuine["outcome"] in ("applied", "duplicate_order"), genuine
    assert available(gw, sku) == 6  # the order's 4 units are sold, once


def test_a_cancelled_body_sent_as_a_create_takes_nothing(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = shopify_cancelled(21_003, sku, 4)
    for n, topic in enumerate(("orders/create", "orders/updated", "orders/create")):
        to_shopify(gw, body, topic, f"forged-{n}")
        assert available(gw, sku) == 10, topic
    # and after the order's genuine history, the same bodies in any order leave it at 10
    placed = shopify_order(21_003, sku, 4)
    to_shopify(gw, placed, "orders/create", "genuine-create")
    to_shopify(gw, body, "orders/cancelled", "genuine-cancel")
    to_shopify(gw, placed, "orders/create", "forged-late")
    assert available(gw, sku) == 10


def test_an_older_body_under_any_topic_moves_nothing(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    placed = shopify_order(21_004, sku, 3)
    refund = {"refund_line_items": [{"line_item_id": 210_040, "quantity": 2, "restock_type": "return"}]}
    refunded = shopify_order(21_004, sku, 3, updated=EDITED, current=1, refunds=[refund])
    to_shopify(gw, placed, "orders/create", "genuine-create")
    to_shopify(gw, refunded, "orders/updated", "genuine-refund")
    assert available(gw, sku) == 9
    for n, topic in enumerate(("orders/create", "orders/updated", "orders/cancelled")):
        (decision,) = to_shopify(gw, placed, topic, f"forged-{n}")
        assert decision["outcome"] == "stale", (topic, decision)
    assert available(gw, sku) == 9


def test_a_refund_body_under_an_order_topic_moves_nothing(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    to_shopify(gw, shopify_order(21_005, sku, 3), "orders/create", "genuine-create")
    refund = orjson.dumps(
        {
            "id": 77,
            "admin_graphql_api_id": "gid://shopify/Refund/77",
            "order_id": 21_005,
            "refund_line_items": [{"line_item_id": 210_050, "quantity": 3, "restock_type": "return"}],
        }
    )
    headers = {
        "X-Shopify-Topic": "orders/cancelled",
        "X-Shopify-Hmac-Sha256": shopify_signature(SHOP_SECRET, refund),
        "X-Shopify-Event-Id": "forged-refund",
    }
    r = httpx.post(f"{gw.url}/webhooks/shop-us", content=refund, headers=headers, timeout=30)
    assert r.status_code in (200, 400) and not r.json().get("decisions"), r.text
    assert available(gw, sku) == 7


# -- WooCommerce ----------------------------------------------------------------------------------
def woo_order(order_id: int, sku: str, status: str, modified: str, reduced: int | None = None) -> bytes:
    """A REST v3 order as WooCommerce renders it for ``order.*`` webhooks (one line item)."""
    meta = [] if reduced is None else [{"id": 1, "key": "_reduced_stock", "value": str(reduced)}]
    return orjson.dumps(
        {
            "id": order_id,
            "status": status,
            "date_created_gmt": "2026-03-01T15:00:00",
            "date_modified_gmt": modified,
            "line_items": [{"id": 1, "sku": sku, "quantity": 2, "product_id": 5, "meta_data": meta}],
        }
    )


def to_woo(gw: Gw, body: bytes, topic: str, **forged: str) -> list[dict[str, Any]]:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.split(".")[0],
        "X-WC-Webhook-Event": topic.split(".")[-1],
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        "X-WC-Webhook-Signature": woo_signature(WOO_SECRET, body),
        **forged,
    }
    r = httpx.post(f"{gw.url}/webhooks/woo-eu", content=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    decisions: list[dict[str, Any]] = r.json()["decisions"]
    return decisions


def test_woocommerce_headers_change_neither_the_key_nor_the_decision(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    body = woo_order(31_001, sku, "processing", "2026-03-01T15:00:00", reduced=2)
    (first,) = to_woo(gw, body, "order.created")
    assert available(gw, sku) == 8
    forgeries = [
        {"X-WC-Webhook-Topic": "order.updated"},
        {"X-WC-Webhook-Event": "deleted", "X-WC-Webhook-Resource": "order"},
        {"X-WC-Webhook-Event": "restored", "X-WC-Webhook-Source": "https://elsewhere.example/"},
        {"X-WC-Webhook-Delivery-ID": "1", "X-WC-Webhook-ID": "999"},
    ]
    for forged in forgeries:
        topic = forged.get("X-WC-Webhook-Topic", "order.updated")
        (again,) = to_woo(gw, body, topic, **forged)
        assert again == first, forged  # one key from the body: the first answer, replayed
    assert available(gw, sku) == 8


def test_woocommerce_status_decides_whatever_the_topic_says(gw: Gw) -> None:
    sku = new_sku()
    gw.set_stock(sku, 10)
    processing = woo_order(31_002, sku, "processing", "2026-03-01T15:00:00", reduced=2)
    cancelled = woo_order(31_002, sku, "cancelled", "2026-03-01T16:00:00")
    (sold,) = to_woo(gw, processing, "order.created")
    assert available(gw, sku) == 8
    to_woo(gw, cancelled, "order.created")  # a cancel under the "created" topic: still a cancel
    assert available(gw, sku) == 10
    (late,) = to_woo(gw, processing, "order.updated", **{"X-WC-Webhook-Event": "updated"})
    assert late == sold and available(gw, sku) == 10  # its key is the body's: replayed, no new sale
