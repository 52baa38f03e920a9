"""TikTok Shop orders (API 202309) as versioned documents, and the one fetch the gateway makes.

``Order {id, status, create_time, update_time (unix s), line_items[{id, sku_id, product_id,
seller_sku, display_status, ...}]}`` from Get Order Detail (``GET /order/202309/orders?ids=a,b``,
``data.orders``) and Search Orders (``POST /order/202309/orders/search``; EcomPHP/tiktokshop-php
src/Resources/Order.php). Statuses: UNPAID, ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING,
AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, COMPLETED, CANCELLED (Order.php's constants; ON_HOLD
from other clients).

Unverified, each one function: ``holds_stock`` (every status but CANCELLED holds the units, UNPAID
too: TikTok takes stock at order creation and a payment that never comes ends CANCELLED),
``line_units`` (a 202309 line item is one unit unless it carries an integer ``quantity``; a line
whose ``display_status`` is CANCELLED holds none: a partial cancel), ``order_version``
(``update_time`` in ms: two changes within one second would share a version, and the later one would
move nothing), ``cancel_restocks`` (a cancelled order's units return to the SKU's stock).
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters import blocking_http
from adapters.base import AdapterError
from adapters.tiktok import api
from adapters.tiktok.tokens import TokenError, tokens_for
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

DETAIL = "/order/202309/orders"
SEARCH = "/order/202309/orders/search"
CANCELLED = "CANCELLED"
HOLDING = frozenset(
    {
        "UNPAID",
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "PARTIALLY_SHIPPING",
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
        "DELIVERED",
        "COMPLETED",
    }
)
FIRST = frozenset({"UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"})
"""Statuses an order starts in: sent as ``order_placed`` (unless a line was cancelled)."""
FETCH_TIMEOUT_S = 2.0


def holds_stock(status: str) -> bool | None:
    """True: the units are held; None: cancelled (units come back); False: unknown status."""
    if status == CANCELLED:
        return None
    return status in HOLDING


def line_units(item: dict[str, Any]) -> int:
    if item.get("display_status") == CANCELLED:
        return 0
    quantity = item.get("quantity")
    return quantity if type(quantity) is int and quantity >= 0 else 1


def order_version(order: dict[str, Any]) -> int | None:
    updated = order.get("update_time")
    return updated * 1000 if type(updated) is int and updated > 0 else None


def cancel_restocks(order: dict[str, Any]) -> bool:
    return True


def sku_units(order: dict[str, Any]) -> dict[str, int]:
    """SKU -> units held, summed over the order's line items (lines without a seller SKU left out)."""
    units: dict[str, int] = {}
    items = order.get("line_items")
    for item in items if isinstance(items, list) else []:
        sku = item.get("seller_sku") if isinstance(item, dict) else None
        if isinstance(sku, str) and sku.strip():
            units[sku] = units.get(sku, 0) + line_units(item)
    return units


def channel_order(order: dict[str, Any]) -> ChannelOrder | None:
    """One listed order as a versioned document (None without an id, a version, a SKU line, or in
    a status that says nothing about stock)."""
    order_id, version = order.get("id"), order_version(order)
    held = holds_stock(str(order.get("status")))
    units = sku_units(order)
    if not isinstance(order_id, str) or not order_id or version is None or held is False or not units:
        return None
    created = order.get("create_time")
    at = float(created) if type(created) is int and created > 0 else version / 1000
    cancelled = held is None
    lines = tuple((sku, 0 if cancelled else q) for sku, q in units.items())
    return ChannelOrder(
        order_id,
        lines,
        at,
        version / 1000,
        cancelled,
        version=version,
        restock=cancel_restocks(order),
    )


def fetch_sync(channel: ChannelConfig, order_id: str) -> dict[str, Any]:
    """Get Order Detail for one order, blocking at most ``FETCH_TIMEOUT_S`` a call (the gateway runs
    it on a worker thread); ``AdapterError`` saying why not (the webhook is refused with 400, TikTok
    delivers it again, and reconciliation's backfill reads the order either way)."""
    tokens = tokens_for(channel)
    for attempt in range(2):
        try:
            token = tokens.ensure_sync(FETCH_TIMEOUT_S)
            request = api.build(channel, token, "GET", DETAIL, {"ids": order_id})
            with blocking_http.client(FETCH_TIMEOUT_S) as client:
                response = client.send(request)
        except (TokenError, httpx.HTTPError) as exc:
            raise AdapterError(
                f"Get Order Detail failed ({type(exc).__name__}); backfill reads the order"
            ) from None
        code, _, data = api.envelope(response)
        if api.credential_error(response.status_code, code) and attempt == 0:
            tokens.forget(token)
            continue
        if response.status_code == 200 and code == 0:
            for order in data.get("orders") or []:
                if isinstance(order, dict) and order.get("id") == order_id:
                    return order
            raise AdapterError(f"order {order_id[:40]} not found by Get Order Detail")
        break
    raise AdapterError(
        f"Get Order Detail answered HTTP {response.status_code} code {str(code)[:20]}; "
        "backfill reads the order"
    )
