"""Orders API v2026-01-01 orders, one parser whichever way they came: listed by ``searchOrders``
(reconciliation's backfill) or fetched by ``getOrder`` (an ``ORDER_CHANGE`` without ``Summary``).

``Order {orderId, createdTime, lastUpdatedTime, fulfillment {fulfillmentStatus, fulfilledBy},
orderItems [{quantityOrdered, product {sellerSku}, cancellation {cancellationRequest {requester}}}]}``
(models/orders-api-model/orders_2026-01-01.json; ``fulfillment`` only with
``includedData=FULFILLMENT``, ``cancellation`` only with ``CANCELLATION``). The version is
``lastUpdatedTime`` in ms, the webhook's is ``TimeOfOrderChange`` (``notifications.order_version``):
both are Amazon's clock for the order's last change, so a listed state and a notified one compare
(unverified that they coincide to the millisecond: one listed after its notification restates it
as a newer version, which moves nothing). Statuses map as the notifications' do
(``notifications.holds_stock``); ``item_units`` is the one place that says how a cancelled item
shows (unverified: ``quantityOrdered`` as listed).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class OrderState:
    """What an ``Order`` says about stock: its status by the notifications' names, SKU -> units,
    whether Amazon fulfils it, the SKUs a buyer asked to cancel, and its times (unix seconds)."""

    order_id: str
    status: str
    units: dict[str, int]
    by_amazon: bool
    buyer_cancels: tuple[str, ...]
    created: float
    modified: float


def item_units(item: dict[str, Any]) -> int | None:
    qty = item.get("quantityOrdered")
    return qty if type(qty) is int and qty >= 0 else None


def _buyer_asked(item: dict[str, Any]) -> bool:
    cancellation = item.get("cancellation")
    request = cancellation.get("cancellationRequest") if isinstance(cancellation, dict) else None
    return isinstance(request, dict) and request.get("requester") == "BUYER"


def order_state(order: dict[str, Any]) -> OrderState | None:
    """The order's state; None without an id, a ``lastUpdatedTime`` or an item with a SKU."""
    raw = order.get("fulfillment")
    fulfillment: dict[str, Any] = raw if isinstance(raw, dict) else {}
    order_id, modified = order.get("orderId"), epoch(order.get("lastUpdatedTime"))
    if not isinstance(order_id, str) or not order_id or modified is None:
        return None
    units: dict[str, int] = {}
    asked: list[str] = []
    for item in order.get("orderItems") or []:
        product = item.get("product") if isinstance(item, dict) else None
        sku = product.get("sellerSku") if isinstance(product, dict) else None
        qty = item_units(item) if isinstance(item, dict) else None
        if isinstance(sku, str) and sku.strip() and qty is not None:
            units[sku] = units.get(sku, 0) + qty
            if _buyer_asked(item):
                asked.append(sku)
    if not units:
        return None
    status = STATUS.get(str(fulfillment.get("fulfillmentStatus")), "")
    created = epoch(order.get("createdTime")) or modified
    by_amazon = fulfillment.get("fulfilledBy") == "AMAZON"
    return OrderState(order_id, status, units, by_amazon, tuple(asked), created, modified)


def channel_order(order: dict[str, Any]) -> ChannelOrder | None:
    """A listed order as a versioned document; None when it is malformed, fulfilled by Amazon or in
    a status that says nothing about stock."""
    state = order_state(order)
    if state is None or state.by_amazon:
        return None
    held = holds_stock(state.status)
    if held is False:
        return None
    cancelled = held is None
    lines = tuple((sku, 0 if cancelled else q) for sku, q in state.units.items())
    version = round(state.modified * 1000)
    return ChannelOrder(
        state.order_id, lines, state.created, state.modified, cancelled, version=version, restock=True
    )
