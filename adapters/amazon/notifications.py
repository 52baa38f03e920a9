"""SP-API notifications as a relay forwards them, turned into canonical events.

Shapes checked against amzn/selling-partner-api-models ``schemas/notifications/
OrderChangeNotification.json`` and ``ListingsItemMfnQuantityChange.json`` (commit 34dc93f, 2026-08).
Details the sources leave open are each one function here, named in ``adapters.amazon``'s
docstring: ``unwrap`` (EventBridge envelope), ``order_version``, ``line_units``, ``holds_stock``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.base import AdapterError, Inbound
from adapters.order_payload import build_event, decode_object
from adapters.reading import epoch
from engine.events import ChannelQuantityReported, OrderCancelled, OrderPlaced, OrderUpdated

ORDER_CHANGE = "ORDER_CHANGE"
MFN_QUANTITY_CHANGE = "LISTINGS_ITEM_MFN_QUANTITY_CHANGE"

HOLDING = frozenset(
    {
        "Pending",
        "PendingAvailability",
        "Unshipped",
        "PartiallyShipped",
        "Shipped",
        "InvoiceUnconfirmed",
        "Unfulfillable",
    }
)
"""Order statuses whose units are out of stock. Pending too: a merchant-fulfilled order takes the
units off the listing when placed, and a payment that fails ends as ``Canceled``, which returns them
(unverified against a captured account: ``holds_stock``)."""
CANCELED = "Canceled"
PLACED = frozenset({"Pending", "PendingAvailability"})
"""Statuses sent as ``order_placed`` (the order's first states); the rest as ``order_updated``."""


def unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    """The notification itself: an EventBridge event carries it in ``detail`` (unverified that a
    relay forwards the whole event rather than ``detail``: both are accepted)."""
    detail = payload.get("detail")
    if "NotificationType" not in payload and isinstance(detail, dict):
        return detail
    return payload


def holds_stock(status: str) -> bool | None:
    """True: the order's units are held; None: cancelled (units come back); False: unknown status."""
    if status == CANCELED:
        return None
    return status in HOLDING


def order_version(note: dict[str, Any], envelope: dict[str, Any]) -> int:
    """The order's version: ``TimeOfOrderChange`` in ms, else the notification's ``EventTime``
    (the schema lets ``TimeOfOrderChange`` be null). Unverified that Amazon's change times are
    strictly increasing per order; reconciliation versions listed orders by ``lastUpdatedTime``."""
    raw = note.get("OrderChangeTrigger")
    trigger: dict[str, Any] = raw if isinstance(raw, dict) else {}
    at = epoch(trigger.get("TimeOfOrderChange")) or epoch(envelope.get("EventTime"))
    if at is None:
        raise AdapterError("ORDER_CHANGE without TimeOfOrderChange or EventTime")
    return round(at * 1000)


def line_units(item: dict[str, Any]) -> int:
    """Units an order item still holds: ``Quantity``. The schema has no per-item cancelled count
    (``OrderItemStatus`` is Unshipped or Shipped); a cancelled item is taken to show ``Quantity``
    0, and a ``Canceled`` item status, should one come, counts as 0 (unverified)."""
    quantity = item.get("Quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise AdapterError("OrderItems[].Quantity must be a non-negative integer")
    return 0 if item.get("OrderItemStatus") in ("Canceled", "Cancelled") else quantity


def metadata_id(envelope: dict[str, Any]) -> str:
    meta = envelope.get("NotificationMetadata")
    nid = meta.get("NotificationId") if isinstance(meta, dict) else None
    if not isinstance(nid, str) or not nid or len(nid) > 200:
        raise AdapterError("NotificationMetadata.NotificationId missing")
    return nid


Thin = Callable[[str, str, dict[str, Any], dict[str, Any]], Inbound]
"""What an ``ORDER_CHANGE`` without ``Summary`` becomes: ``(key, order_id, note, envelope)`` ->
events (``adapters.amazon.order_fetch.thin_change`` reads the order through ``getOrder``)."""


def normalise(channel_id: str, seller_id: str | None, body: bytes, thin: Thin | None = None) -> Inbound:
    """One forwarded notification as events (see ``adapters.amazon`` for the mapping)."""
    envelope = unwrap(decode_object(body))
    kind = envelope.get("NotificationType")
    payload = envelope.get("Payload")
    if not isinstance(payload, dict):
        raise AdapterError("Payload must be an object")
    key = f"amazon:{metadata_id(envelope)}"
    if kind == ORDER_CHANGE:
        note = payload.get("OrderChangeNotification")
        if not isinstance(note, dict):
            raise AdapterError("Payload.OrderChangeNotification must be an object")
        _same_seller(note.get("SellerId"), seller_id)
        return order_change(channel_id, key, note, envelope, thin)
    if kind == MFN_QUANTITY_CHANGE:
        _same_seller(payload.get("SellerId"), seller_id)
        return quantity_change(channel_id, key, payload, envelope)
    return Inbound(note=f"ignored notification type {str(kind)[:60]}")


def _same_seller(sent: Any, ours: str | None) -> None:
    if ours and sent != ours:
        raise AdapterError(f"SellerId {str(sent)[:40]!r} is not this channel's seller_id")


def order_change(
    channel_id: str, key: str, note: dict[str, Any], envelope: dict[str, Any], thin: Thin | None = None
) -> Inbound:
    order_id = note.get("AmazonOrderId")
    if not isinstance(order_id, str) or not order_id:
        raise AdapterError("AmazonOrderId missing")
    summary = note.get("Summary")
    if not isinstance(summary, dict):
        if thin is None:
            raise AdapterError("ORDER_CHANGE without Summary and no order fetch (backfill reads the order)")
        return thin(key, order_id, note, envelope)
    if summary.get("FulfillmentType") == "AFN":
        return Inbound(note="ignored: fulfilled by Amazon (FBA stock is not master's)")
    status = str(summary.get("OrderStatus"))
    if holds_stock(status) is False:
        return Inbound(note=f"ignored order status {status[:40]}")
    items = summary.get("OrderItems")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise AdapterError("Summary.OrderItems must be a non-empty list of objects")
    asked = [str(i.get("SellerSKU")) for i in items if i.get("IsBuyerRequestedCancel") is True]
    return decided(channel_id, key, order_id, status, _lines(items), order_version(note, envelope), asked)


def decided(
    channel_id: str,
    key: str,
    order_id: str,
    status: str,
    lines: list[dict[str, Any]],
    version: int,
    buyer_cancels: list[str],
) -> Inbound:
    """An order's state as its event, whichever way it came (``Summary``, or ``getOrder``)."""
    held = holds_stock(status)
    if held is False:
        return Inbound(note=f"ignored order status {status[:40]}")
    common = {"channel": channel_id, "order_id": order_id, "version": version, "at": version / 1000}
    if held is None:
        skus = list(dict.fromkeys(line["sku"] for line in lines))
        event = build_event(OrderCancelled, key=f"{key}:cancelled", skus=skus, restock=True, **common)
        return Inbound(events=[event], note="cancelled")
    if status in PLACED:
        event = build_event(OrderPlaced, key=key, lines=lines, **common)
    else:
        event = build_event(OrderUpdated, key=key, lines=lines, reason=f"status {status}"[:100], **common)
    return Inbound(events=[event], note=_buyer_cancel_note(buyer_cancels))


def _lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per SKU (items of one SKU summed), ``kept`` 0: Amazon shows no refund-without-restock."""
    units: dict[str, int] = {}
    for i, item in enumerate(items):
        sku = item.get("SellerSKU")
        if not isinstance(sku, str) or not sku.strip():
            raise AdapterError(f"OrderItems[{i}].SellerSKU missing")
        units[sku] = units.get(sku, 0) + line_units(item)
    return [{"sku": sku, "quantity": q} for sku, q in units.items()]


def _buyer_cancel_note(asked: list[str]) -> str:
    """Buyer-requested cancels are requests: the units stay held until the seller cancels."""
    return (
        f"buyer requested cancel of {', '.join(asked[:10])}: held until the order is Canceled"
        if asked
        else ""
    )


def quantity_change(channel_id: str, key: str, payload: dict[str, Any], envelope: dict[str, Any]) -> Inbound:
    """What Amazon lists now, noted beside master's count: never a decision on stock (it fires on
    our own pushes and on orders alike, so alone it cannot tell drift)."""
    if payload.get("FulfillmentChannelCode") != "DEFAULT":
        return Inbound(note="ignored: not the DEFAULT (merchant-fulfilled) channel")
    sku, quantity = payload.get("Sku"), payload.get("Quantity")
    if not isinstance(sku, str) or isinstance(quantity, bool) or not isinstance(quantity, int):
        raise AdapterError("Payload needs Sku (string) and Quantity (integer)")
    at = epoch(envelope.get("EventTime")) or 0.0
    event = build_event(
        ChannelQuantityReported, key=key, channel=channel_id, sku=sku, quantity=quantity, at=at
    )
    return Inbound(events=[event], note="quantity reported")
