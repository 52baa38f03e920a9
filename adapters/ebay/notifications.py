"""eBay Notification API deliveries as canonical events: ``ORDER_CONFIRMATION`` is a sale.

Envelope (MARKETPLACES.md, eBay; developer.ebay.com asyncapi order_confirmation): ``{metadata
{topic, schemaVersion, deprecated}, notification {notificationId, eventDate, publishDate,
publishAttemptCount, data {user, order {orderId, orderLineItems[{orderLineItemId, listingId,
quantity}]}}}}``. ``notificationId`` is the idempotency key (``ebay:<notificationId>``); the sale is a
versioned order document at ``eventDate`` in ms, ``order_placed``.

The lines name a listing, not a SKU. The catalog import knows every offer's listing, but it runs in
the channel actor (its catalog is the actor's, in Redis) and ``normalise`` runs synchronously in the
gateway with no store to read. So the gateway learns listings itself: ``ListingMap`` remembers
listing -> SKU (and line item -> SKU) for each channel, and a line it cannot map makes it fetch the
order (``getOrder``: ``lineItems[].sku``, ``legacyItemId``), once per order, within a short timeout
(``adapters.ebay.orders.fetch_sync``); what the order teaches maps later sales of the same listings
without a fetch. A line whose listing has no SKU even there is skipped and named in the note; a
fetch that fails refuses the delivery (400, eBay redelivers, and reconciliation's ``getOrders``
backfill reads the order either way).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from adapters.base import AdapterError, Inbound
from adapters.ebay.orders import listing_skus
from adapters.order_payload import build_event, decode_object
from adapters.reading import epoch
from engine.events import OrderPlaced

ORDER_CONFIRMATION = "ORDER_CONFIRMATION"
MAX_MAPPED = 100_000
Fetch = Callable[[str], dict[str, Any]]
"""order id -> the Fulfillment API's order (``getOrder``)."""


class ListingMap:
    """``listingId:<id>`` / ``lineItemId:<id>`` -> SKU, most recently used kept (bounded)."""

    def __init__(self, limit: int = MAX_MAPPED) -> None:
        self.limit = limit
        self.skus: OrderedDict[str, str] = OrderedDict()
        self.fetches = 0

    def learn(self, pairs: dict[str, str]) -> None:
        for key, sku in pairs.items():
            self.skus[key] = sku
            self.skus.move_to_end(key)
        while len(self.skus) > self.limit:
            self.skus.popitem(last=False)

    def sku(self, line: dict[str, Any]) -> str | None:
        for key in (f"lineItemId:{line.get('orderLineItemId')}", f"legacyItemId:{line.get('listingId')}"):
            if key in self.skus:
                self.skus.move_to_end(key)
                return self.skus[key]
        return None


_MAPS: dict[str, ListingMap] = {}


def map_for(channel_id: str) -> ListingMap:
    return _MAPS.setdefault(channel_id, ListingMap())


def notification_id(envelope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    note = envelope.get("notification")
    nid = note.get("notificationId") if isinstance(note, dict) else None
    if not isinstance(nid, str) or not nid or len(nid) > 200 or not isinstance(note, dict):
        raise AdapterError("notification.notificationId missing")
    return nid, note


def normalise(channel_id: str, body: bytes, listings: ListingMap, fetch: Fetch) -> Inbound:
    envelope = decode_object(body)
    meta = envelope.get("metadata")
    topic = meta.get("topic") if isinstance(meta, dict) else None
    nid, note = notification_id(envelope)
    if topic != ORDER_CONFIRMATION:
        return Inbound(note=f"ignored topic {str(topic)[:60]}")
    data = note.get("data")
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, dict):
        raise AdapterError("notification.data.order must be an object")
    order_id = order.get("orderId")
    if not isinstance(order_id, str) or not order_id or len(order_id) > 100:
        raise AdapterError("data.order.orderId missing")
    at = epoch(note.get("eventDate")) or epoch(note.get("publishDate"))
    if at is None:
        raise AdapterError("notification.eventDate missing")
    lines = _lines(order.get("orderLineItems"))
    if any(listings.sku(line) is None for line in lines):
        listings.fetches += 1
        listings.learn(listing_skus(fetch(order_id)))
    units: dict[str, int] = {}
    skipped: list[str] = []
    for line in lines:
        sku = listings.sku(line)
        if sku is None:
            skipped.append(str(line.get("listingId")))
        else:
            units[sku] = units.get(sku, 0) + line["quantity"]
    skip_note = f"skipped listings without a SKU: {', '.join(skipped[:10])}" if skipped else ""
    if not units:
        return Inbound(note=skip_note or "no line to decide")
    version = round(at * 1000)
    event = build_event(
        OrderPlaced,
        key=f"ebay:{nid}",
        channel=channel_id,
        order_id=order_id,
        version=version,
        at=at,
        lines=[{"sku": sku, "quantity": q} for sku, q in units.items()],
    )
    return Inbound(events=[event], note=skip_note)


def _lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw or len(raw) > 1000:
        raise AdapterError("data.order.orderLineItems must be a non-empty list")
    for i, line in enumerate(raw):
        if not isinstance(line, dict):
            raise AdapterError(f"orderLineItems[{i}] must be an object")
        qty = line.get("quantity")
        if type(qty) is not int or qty <= 0:
            raise AdapterError(f"orderLineItems[{i}].quantity must be a positive integer")
        if not isinstance(line.get("listingId"), str) or not line["listingId"]:
            raise AdapterError(f"orderLineItems[{i}].listingId missing")
    return raw
