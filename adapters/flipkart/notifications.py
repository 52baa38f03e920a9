"""Flipkart order notifications (v3, per shipment) turned into canonical events.

Shapes from seller.flipkart.com/api-docs order-api-docs NotifRef (and its mirror
flipkart.github.io/fk-api-platform-docs): ``{"eventType", "source": "flipkart", "version": "v3",
"timestamp": ISO, "shipmentId", "locationId", "attributes": {...}}``. ``shipment_created`` carries
``attributes.orderItems[{orderItemId, orderId, sku, quantity, status, orderDate}]`` and
``attributes.updatedAt`` (read only when no shipment read is configured: unit tests; the gateway
always reads the shipment, since the signature does not cover the body); ``shipment_cancelled``
carries only ``orderItems[{orderItemId, quantity,
reason}]`` (no SKU), so the shipment is read (``adapters.flipkart.fetch``) and its state after the
cancel becomes the document's newer version; every other event (hold, packed, shipped,
returns...) carries no quantities and is ignored.

The order document is the shipment (every event names its ``shipmentId``; reconciliation's
``shipments/filter`` lists shipments). Flipkart sends no event id: the key is derived from the
resource, ``flipkart:<shipmentId>:<eventType>:<timestamp>`` (MARKETPLACES.md, common rules), and
for a cancel also the version of the shipment read.

Events are ordered per group and one not acknowledged blocks the later ones (api-docs
best_practices): so every signed notification is answered 200, the ones ignored too, and one we
cannot read is acknowledged with a note saying why (logged; reconciliation's backfill reads the
shipment) rather than refused. Unverified, each one function: ``event_version`` (which time
versions a notification); how a cancelled item shows in the shipment read after a cancel is
``orders.held``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from adapters.base import AdapterError, Inbound
from adapters.flipkart.orders import channel_order, units
from adapters.order_payload import build_event, decode_object
from adapters.reading import epoch
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated

Fetch = Callable[[str], dict[str, Any]]
"""Reads a shipment by id (``adapters.flipkart.fetch.shipment_sync``, bound to the channel)."""

log = logging.getLogger(__name__)

CREATED = "shipment_created"
CANCELLED = "shipment_cancelled"


def event_version(event: dict[str, Any], attributes: dict[str, Any]) -> int:
    """ms of ``attributes.updatedAt`` (the shipment's own change time, as ``shipments/filter`` lists
    it), else the event's ``timestamp`` (unverified that the two agree)."""
    at = epoch(attributes.get("updatedAt")) or epoch(event.get("timestamp"))
    if at is None:
        raise AdapterError("notification without timestamp")
    return round(at * 1000)


def event_key(event: dict[str, Any], shipment: str) -> str:
    return f"flipkart:{shipment}:{str(event.get('eventType'))[:60]}:{str(event.get('timestamp'))[:40]}"


def normalise(channel_id: str, body: bytes, fetch: Fetch | None = None) -> Inbound:
    """One notification as events; anything signed but unreadable is acknowledged with a note."""
    try:
        return _normalise(channel_id, decode_object(body), fetch)
    except AdapterError as exc:
        log.warning("flipkart channel %s: notification acknowledged unread: %s", channel_id, exc.reason)
        return Inbound(note=f"acknowledged unread ({exc.reason}); backfill reads the shipment")


def _normalise(channel_id: str, event: dict[str, Any], fetch: Fetch | None) -> Inbound:
    kind = event.get("eventType")
    if kind not in (CREATED, CANCELLED):
        return Inbound(note=f"ignored event {str(kind)[:60]}")
    shipment = event.get("shipmentId")
    if not isinstance(shipment, str) or not shipment or len(shipment) > 200:
        raise AdapterError("shipmentId missing")
    if kind == CANCELLED:
        if fetch is None:
            raise AdapterError("shipment_cancelled names no SKU and no shipment read is configured")
        return cancellation(channel_id, event, shipment, fetch(shipment))
    if fetch is not None:
        # FKLOGIN signs the date, URL, method and secret, not the body: within the date window a
        # captured header could carry any body. So a sale is decided from the shipment as Flipkart's
        # API returns it to us (authenticated by our token), the body only naming which one.
        return from_shipment(channel_id, event, shipment, fetch(shipment))
    raw = event.get("attributes")
    attributes: dict[str, Any] = raw if isinstance(raw, dict) else {}
    version = event_version(event, attributes)
    lines, skipped = _lines(attributes.get("orderItems"))
    if not lines:
        raise AdapterError("shipment_created without an order item with a SKU")
    dates = [t for i in _items(attributes) if (t := epoch(i.get("orderDate"))) is not None]
    placed = min(dates, default=version / 1000)
    built = build_event(
        OrderPlaced,
        key=event_key(event, shipment),
        channel=channel_id,
        order_id=shipment,
        version=version,
        at=placed,
        lines=lines,
    )
    return Inbound(events=[built], note=f"skipped items without sku: {skipped}" if skipped else "")


def _items(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    raw = attributes.get("orderItems")
    return [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []


def _lines(raw: Any) -> tuple[list[dict[str, Any]], int]:
    """One line per SKU (items of one SKU summed); a cancelled item holds nothing."""
    if not isinstance(raw, list):
        raise AdapterError("attributes.orderItems must be a list")
    held: dict[str, int] = {}
    skipped = 0
    for i, item in enumerate(raw):
        sku = item.get("sku") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not sku.strip():
            skipped += 1
            continue
        qty = units(item.get("quantity"))
        if qty is None:
            raise AdapterError(f"orderItems[{i}].quantity must be a whole number")
        held[sku] = held.get(sku, 0) + (0 if item.get("status") == "CANCELLED" else qty)
    return [{"sku": sku, "quantity": q} for sku, q in held.items()], skipped


def from_shipment(
    channel_id: str, event: dict[str, Any], shipment_id: str, shipment: dict[str, Any]
) -> Inbound:
    """A ``shipment_created`` as the shipment read after it: ``order_placed`` with its lines (or the
    cancel it has become by the time it is read), keyed with the version read, as a cancel is."""
    if not shipment.get("updatedAt"):
        shipment = shipment | {"updatedAt": event.get("timestamp")}
    order = channel_order(shipment)
    if order is None or order.version is None:
        raise AdapterError("the shipment lists no seller-fulfilled SKU line")
    if order.cancelled:
        return cancellation(channel_id, event, shipment_id, shipment)
    built = build_event(
        OrderPlaced,
        key=f"{event_key(event, shipment_id)}:{order.version}",
        channel=channel_id,
        order_id=shipment_id,
        version=order.version,
        at=order.at,
        lines=[{"sku": sku, "quantity": q} for sku, q in order.lines],
    )
    return Inbound(events=[built])


def cancellation(
    channel_id: str, event: dict[str, Any], shipment_id: str, shipment: dict[str, Any]
) -> Inbound:
    """A ``shipment_cancelled`` as the shipment it leaves (read after the event): a newer version of
    the document (``orders.channel_order``: cancelled items hold nothing) or, when every item is
    cancelled, ``order_cancelled`` with restock (``orders.cancel_restocks``)."""
    if not shipment.get("updatedAt"):
        shipment = shipment | {"updatedAt": event.get("timestamp")}
    order = channel_order(shipment)
    if order is None or order.version is None:
        raise AdapterError("the cancelled shipment lists no seller-fulfilled SKU line")
    common = {
        # the version read is part of the key: a redelivery after the shipment moved on carries a
        # newer document (a new decision), one of the same state is a duplicate
        "key": f"{event_key(event, shipment_id)}:{order.version}",
        "channel": channel_id,
        "order_id": shipment_id,
        "version": order.version,
        "at": order.modified,
    }
    if order.cancelled:
        skus = [sku for sku, _ in order.lines]
        return Inbound(
            events=[build_event(OrderCancelled, skus=skus, restock=order.restock, **common)], note="cancelled"
        )
    lines = [{"sku": sku, "quantity": q} for sku, q in order.lines]
    built = build_event(OrderUpdated, lines=lines, reason="shipment_cancelled (partial)", **common)
    return Inbound(events=[built], note="partly cancelled")
