"""The simulated seller's Flipkart shipments and the notifications Flipkart sends about them.

Shapes follow api-docs order-api-docs NotifRef (``shipment_created``, ``shipment_cancelled``) and
v3 PostShipmentSearch (a listed shipment); notifications are signed as ``adapters.flipkart.signature``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.flipkart import signature


def iso(t: float) -> str:
    """Flipkart's timestamps are IST with an offset (the docs' examples: ``+05:30``)."""
    return datetime.fromtimestamp(t, UTC).astimezone().isoformat(timespec="milliseconds")


@dataclass
class Item:
    order_item_id: str
    order_id: str
    sku: str
    quantity: int
    status: str = "APPROVED"
    cancelled_at: float | None = None


@dataclass
class Shipment:
    shipment_id: str
    location_id: str
    items: list[Item]
    created: float
    updated: float
    events: int = field(default=0)

    @property
    def cancelled(self) -> bool:
        return all(i.status == "CANCELLED" for i in self.items)

    def listed(self) -> dict[str, Any]:
        """As ``shipments/filter`` lists it."""
        return {
            "shipmentId": self.shipment_id,
            "locationId": self.location_id,
            "updatedAt": iso(self.updated),
            "hold": False,
            "mps": False,
            "orderItems": [self.item(i) for i in self.items],
        }

    def item(self, i: Item) -> dict[str, Any]:
        return {
            "orderItemId": i.order_item_id,
            "orderId": i.order_id,
            "cancellationGroupId": f"grp{i.order_item_id}",
            "orderDate": iso(self.created),
            "paymentType": "PREPAID",
            "status": i.status,
            "quantity": i.quantity,
            "sku": i.sku,
            "serviceProfile": "Seller_Fulfilment",
        }


def created(shipment: Shipment) -> dict[str, Any]:
    return {
        "eventType": "shipment_created",
        "source": "flipkart",
        "version": "v3",
        "shipmentId": shipment.shipment_id,
        "locationId": shipment.location_id,
        "timestamp": iso(shipment.created),
        "attributes": {
            "dispatchByDate": iso(shipment.created + 86400),
            "dispatchAfterDate": iso(shipment.created),
            "updatedAt": iso(shipment.created),
            "hold": False,
            "mps": False,
            "packagingPolicy": "DEFAULT",
            "orderItems": [shipment.item(i) for i in shipment.items],
            "subShipments": [{"subShipmentId": "SS-1", "packages": []}],
            "forms": [],
        },
    }


def cancelled(shipment: Shipment, items: list[tuple[Item, int]], t: float) -> dict[str, Any]:
    """``shipment_cancelled``: the order items and the units cancelled of each (no SKU)."""
    return {
        "eventType": "shipment_cancelled",
        "source": "flipkart",
        "version": "v3",
        "shipmentId": shipment.shipment_id,
        "locationId": shipment.location_id,
        "timestamp": iso(t),
        "attributes": {
            "status": "CANCELLED",
            "orderItems": [
                {"orderItemId": i.order_item_id, "quantity": q, "reason": "seller_cancellation"}
                for i, q in items
            ],
        },
    }


def signed(
    event: dict[str, Any], app_id: str, secret: str, url: str, t: float, encoding: str = "hex"
) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json"} | signature.sign(app_id, secret, url, t, encoding=encoding)
    return orjson.dumps(event), headers
