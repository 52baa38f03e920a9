"""Flipkart shipments (``POST /sellers/v3/shipments/filter``) as versioned order documents.

A shipment lists ``orderItems[{orderItemId, orderId, sku, quantity, status, orderDate,
serviceProfile}]`` and ``updatedAt`` (api-docs order-api-docs/v3 PostShipmentSearch;
fk-api-platform-docs "Search shipments using filters"). The document is the shipment, as for the
notifications (``adapters.flipkart.notifications``), versioned by ``updatedAt`` in ms (the same
time a ``shipment_created`` carries). Items fulfilled by Flipkart (FBF) hold Flipkart's stock, not
master's, and are left out. Unverified, each one function: ``units`` (a whole-number float
such as ``1.0``, as a captured payload sends, counts as units), ``held`` (a CANCELLED item holds
nothing, others their ``quantity``) and ``cancel_restocks`` (a cancelled seller-fulfilled
shipment's units are on the listing again: taken as yes).
"""

from __future__ import annotations

from typing import Any

from adapters.reading import epoch
from engine.reconcile import ChannelOrder

FLIPKART_FULFILLED = frozenset({"Flipkart_Fulfilment", "FBF", "FBF_LITE"})


def units(value: Any) -> int | None:
    """A quantity as units: an integer, or a float with no fraction (a captured payload sends ``1.0``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def held(item: dict[str, Any]) -> int | None:
    qty = units(item.get("quantity"))
    return None if qty is None else (0 if item.get("status") == "CANCELLED" else qty)


def cancel_restocks(shipment: dict[str, Any]) -> bool:
    return True


def channel_order(shipment: dict[str, Any]) -> ChannelOrder | None:
    """One listed shipment as a versioned document (None without an id, a time or a SKU line)."""
    shipment_id = shipment.get("shipmentId")
    items = [
        i
        for i in shipment.get("orderItems") or []
        if isinstance(i, dict) and i.get("serviceProfile") not in FLIPKART_FULFILLED
    ]
    dates = [t for i in items if (t := epoch(i.get("orderDate"))) is not None]
    modified = epoch(shipment.get("updatedAt")) or max(dates, default=None)
    if not isinstance(shipment_id, str) or not shipment_id or modified is None:
        return None
    lines: dict[str, int] = {}
    statuses = set()
    for item in items:
        sku, qty = item.get("sku"), held(item)
        if isinstance(sku, str) and sku.strip() and qty is not None:
            lines[sku] = lines.get(sku, 0) + qty
            statuses.add(item.get("status"))
    if not lines:
        return None
    cancelled = statuses == {"CANCELLED"}
    return ChannelOrder(
        order_id=shipment_id,
        lines=tuple(lines.items()),
        at=min(dates, default=modified),
        modified=modified,
        cancelled=cancelled,
        version=round(modified * 1000),
        restock=cancel_restocks(shipment),
    )
