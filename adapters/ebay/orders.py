"""eBay Fulfillment API orders: their shape as master needs it, and the one fetch the gateway makes.

``Order`` (developer.ebay.com sell/fulfillment getOrder, getOrders): ``orderId``, ``creationDate``,
``lastModifiedDate``, ``cancelStatus.cancelState`` (``NONE_REQUESTED``, ``IN_PROGRESS``,
``CANCELED``), ``lineItems[{lineItemId, legacyItemId (the listing id), sku, quantity}]``. An order
becomes a versioned document at ``lastModifiedDate`` in ms; a notification's ``eventDate`` versions
its own document (``adapters.ebay.notifications``), so a later listing of the same order restates it.

Unverified, each one function: ``cancelled`` (only ``CANCELED`` returns units; a cancel in progress
holds them) and ``cancel_restocks`` (eBay puts a cancelled order's units back on a multi-quantity
listing; taken as yes).
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters import blocking_http
from adapters.base import AdapterError
from adapters.ebay import oauth
from adapters.reading import epoch
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

PATH = "/sell/fulfillment/v1/order"
FETCH_TIMEOUT_S = 2.0
"""Per call, when the gateway fetches an order whose listings it cannot map (on a worker thread)."""


def cancelled(order: dict[str, Any]) -> bool:
    status = order.get("cancelStatus")
    return isinstance(status, dict) and status.get("cancelState") == "CANCELED"


def cancel_restocks(order: dict[str, Any]) -> bool:
    return True


def listing_skus(order: dict[str, Any]) -> dict[str, str]:
    """listing id -> SKU, and line item id -> SKU, for every line with both (what getOrder teaches)."""
    out: dict[str, str] = {}
    for item in order.get("lineItems") or []:
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str) or not item["sku"].strip():
            continue
        for name in ("legacyItemId", "lineItemId"):
            if isinstance(item.get(name), str) and item[name]:
                out[f"{name}:{item[name]}"] = item["sku"]
    return out


def channel_order(order: dict[str, Any]) -> ChannelOrder | None:
    """One listed order as a versioned document (None without an id, a date or a SKU line)."""
    order_id, at, modified = (
        order.get("orderId"),
        epoch(order.get("creationDate")),
        epoch(order.get("lastModifiedDate")),
    )
    if not isinstance(order_id, str) or not order_id or at is None:
        return None
    modified = modified if modified is not None else at
    units: dict[str, int] = {}
    for item in order.get("lineItems") or []:
        sku, qty = (item.get("sku"), item.get("quantity")) if isinstance(item, dict) else (None, None)
        if isinstance(sku, str) and sku.strip() and type(qty) is int and qty > 0:
            units[sku] = units.get(sku, 0) + qty
    if not units:
        return None
    return ChannelOrder(
        order_id=order_id,
        lines=tuple(units.items()),
        at=at,
        modified=modified,
        cancelled=cancelled(order),
        version=round(modified * 1000),
        restock=cancel_restocks(order),
    )


def fetch_sync(channel: ChannelConfig, order_id: str) -> dict[str, Any]:
    """``getOrder``, blocking at most ``FETCH_TIMEOUT_S`` a call; ``AdapterError`` saying why not."""
    tokens = oauth.tokens_for(channel)
    url = f"{channel.base_url.rstrip('/')}{PATH}/{order_id}"
    for attempt in range(2):
        try:
            token = tokens.ensure_sync(FETCH_TIMEOUT_S)
            with blocking_http.client(FETCH_TIMEOUT_S) as client:
                response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        except (oauth.TokenError, httpx.HTTPError) as exc:
            raise AdapterError(f"getOrder failed ({type(exc).__name__}); backfill reads the order") from None
        if response.status_code == 401 and attempt == 0:
            tokens.forget(token)
            continue
        if response.status_code != 200:
            break
        body = response.json()
        if isinstance(body, dict):
            return body
    raise AdapterError(f"getOrder answered HTTP {response.status_code}; backfill reads the order")
