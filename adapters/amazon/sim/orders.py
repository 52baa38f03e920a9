"""The simulated seller's Amazon orders: placed by shoppers, cancelled by the seller, listed by
``searchOrders`` in the Orders API v2026-01-01 shape (models/orders-api-model/orders_2026-01-01.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.amazon.sim.relay_sender import iso_ms


@dataclass
class AmazonOrder:
    order_id: str
    lines: list[tuple[str, int]]
    created: float
    updated: float
    status: str = "Pending"  # ORDER_CHANGE's OrderStatus names

    def items(self) -> list[dict[str, Any]]:
        return [{"sku": sku, "quantity": q} for sku, q in self.lines]


V2026_STATUS = {
    "Pending": "PENDING",
    "PendingAvailability": "PENDING_AVAILABILITY",
    "Unshipped": "UNSHIPPED",
    "PartiallyShipped": "PARTIALLY_SHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
    "Unfulfillable": "UNFULFILLABLE",
}


INCLUDED_DATA = frozenset(
    {"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT", "PACKAGES"}
    | {"TAX", "PAYMENT", "FULFILLMENT_ORDERS"}
)
"""``getOrder``'s ``includedData`` enum (orders_2026-01-01.json); the simulator serves FULFILLMENT."""


def order_id_for(n: int) -> str:
    """Amazon order ids are 3-7-7 digits (the schema's ``AmazonOrderId`` description)."""
    return f"111-{n:07d}-{n * 7 % 10_000_000:07d}"


def v2026(order: AmazonOrder, fulfillment: bool) -> dict[str, Any]:
    """One ``Order``; ``fulfillment`` only when ``includedData`` names FULFILLMENT."""
    out: dict[str, Any] = {
        "orderId": order.order_id,
        "createdTime": iso_ms(order.created),
        "lastUpdatedTime": iso_ms(order.updated),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER"},
        "orderItems": [
            {"orderItemId": f"{order.order_id}-{n}", "quantityOrdered": q, "product": {"sellerSku": sku}}
            for n, (sku, q) in enumerate(order.lines)
        ],
    }
    if fulfillment:
        out["fulfillment"] = {"fulfillmentStatus": V2026_STATUS[order.status], "fulfilledBy": "MERCHANT"}
    return out
