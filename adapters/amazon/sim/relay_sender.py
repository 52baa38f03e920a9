"""The seller's relay, simulated: builds SP-API notification bodies and forwards them signed.

Bodies follow the schemas' own examples (amzn/selling-partner-api-models
``schemas/notifications/OrderChangeNotification.json``, ``ListingsItemMfnQuantityChange.json``);
the signature is the relay convention (``adapters.amazon.relay``). Tests and the demo use it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.amazon import relay


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    kind: str, payload: dict[str, Any], t: float, notification_id: str | None = None
) -> dict[str, Any]:
    return {
        "NotificationVersion": "1.0",
        "NotificationType": kind,
        "PayloadVersion": "1.0",
        "EventTime": iso_ms(t),
        "Payload": payload,
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sellerapps.app.simulated",
            "SubscriptionId": "subscription-simulated",
            "PublishTime": iso_ms(t),
            "NotificationId": notification_id or str(uuid.uuid4()),
        },
    }


def order_change(
    seller_id: str,
    order_id: str,
    status: str,
    items: list[dict[str, Any]],
    t: float,
    *,
    marketplace_id: str = "ATVPDKIKX0DER",
    notification_id: str | None = None,
    change_type: str = "OrderStatusChange",
    fulfillment: str = "MFN",
    summary: bool = True,
) -> dict[str, Any]:
    """An ``ORDER_CHANGE`` notification; ``items`` are ``{"sku", "quantity", ...extra fields}``.
    ``summary`` False leaves ``Summary`` out, so the receiver must read the order's items through
    the Orders API. The published schema (OrderChangeNotification.json, commit 34dc93f) lists
    ``Summary`` as required; MARKETPLACES.md and issue 16 say a notification may come without it,
    so the simulator can send both and the adapter handles both (unverified which one Amazon sends)."""
    order_items = [
        {
            "OrderItemId": f"OI{n}",
            "SellerSKU": item["sku"],
            "SupplySourceId": None,
            "Quantity": item["quantity"],
            "QuantityShipped": item.get("shipped", 0),
            "IsBuyerRequestedCancel": bool(item.get("buyer_cancel", False)),
        }
        for n, item in enumerate(items)
    ]
    note = {
        "NotificationLevel": "OrderLevel",
        "SellerId": seller_id,
        "AmazonOrderId": order_id,
        "OrderChangeType": change_type,
        "OrderChangeTrigger": {"TimeOfOrderChange": iso_ms(t), "ChangeReason": change_type},
        "Summary": {
            "MarketplaceId": marketplace_id,
            "OrderStatus": status,
            "PurchaseDate": iso_ms(t),
            "DestinationPostalCode": None,
            "FulfillmentType": fulfillment,
            "OrderType": "StandardOrder",
            "OrderItems": order_items,
        },
    }
    if not summary:
        del note["Summary"]
    return envelope("ORDER_CHANGE", {"OrderChangeNotification": note}, t, notification_id)


def quantity_change(seller_id: str, sku: str, quantity: int, t: float) -> dict[str, Any]:
    payload = {"SellerId": seller_id, "FulfillmentChannelCode": "DEFAULT", "Sku": sku, "Quantity": quantity}
    return envelope("LISTINGS_ITEM_MFN_QUANTITY_CHANGE", payload, t)


def signed(
    secret: str, notification: dict[str, Any], at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers the relay POSTs: the notification unchanged, signed at ``at`` (now)."""
    body = orjson.dumps(notification)
    t = int(time.time() if at is None else at)
    return body, {"Content-Type": "application/json", "Skusync-Signature": relay.sign(secret, body, t)}


def parse_iso(text: str) -> float:
    # An unencoded "+" in a query string arrives as a space.
    return datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00")).timestamp()
