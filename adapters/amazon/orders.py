"""Orders API v2026-01-01 orders as versioned documents for reconciliation's backfill.

``Order {orderId, createdTime, lastUpdatedTime, fulfillment {fulfillmentStatus, fulfilledBy},
orderItems [{quantityOrdered, product {sellerSku}}]}`` (models/orders-api-model/
orders_2026-01-01.json; ``fulfillment`` only with ``includedData=FULFILLMENT``). The version is
``lastUpdatedTime`` in ms, the webhook's is ``TimeOfOrderChange`` (``notifications.order_version``):
both are Amazon's clock for the order's last change, so a listed state and a notified one compare
(unverified that they coincide to the millisecond: one listed after its notification restates it
as a newer version, which moves nothing). Statuses map as the notifications' do
(``notifications.holds_stock``); ``item_units`` is the one place that says how a cancelled item
shows (unverified: ``quantityOrdered`` as listed).
"""

from __future__ import annotations

from typing import Any

from adapters.amazon.notifications import holds_stock
from adapters.reading import epoch
from engine.reconcile import ChannelOrder

STATUS = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
"""v2026 ``FulfillmentStatus`` -> the notifications' ``OrderStatus`` names."""


def item_units(item: dict[str, Any]) -> int | None:
    qty = item.get("quantityOrdered")
    return qty if type(qty) is int and qty >= 0 else None


def channel_order(order: dict[str, Any]) -> ChannelOrder | None:
    """A listed order as a versioned document; None when it is malformed, fulfilled by Amazon or in
    a status that says nothing about stock."""
    raw = order.get("fulfillment")
    fulfillment: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if fulfillment.get("fulfilledBy") == "AMAZON":
        return None
    held = holds_stock(STATUS.get(str(fulfillment.get("fulfillmentStatus")), ""))
    order_id, modified = order.get("orderId"), epoch(order.get("lastUpdatedTime"))
    if held is False or not isinstance(order_id, str) or not order_id or modified is None:
        return None
    units: dict[str, int] = {}
    for item in order.get("orderItems") or []:
        product = item.get("product") if isinstance(item, dict) else None
        sku = product.get("sellerSku") if isinstance(product, dict) else None
        qty = item_units(item) if isinstance(item, dict) else None
        if isinstance(sku, str) and sku.strip() and qty is not None:
            units[sku] = units.get(sku, 0) + qty
    if not units:
        return None
    cancelled = held is None
    lines = tuple((sku, 0 if cancelled else q) for sku, q in units.items())
    at = epoch(order.get("createdTime")) or modified
    version = round(modified * 1000)
    return ChannelOrder(order_id, lines, at, modified, cancelled, version=version, restock=True)
