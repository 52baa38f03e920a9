"""The simulator's TikTok Shop orders: one line item per unit, statuses, signed notifications.

An order's document is Get Order Detail's shape (``adapters.tiktok.orders``); every change moves
``update_time`` to a later second than the last (TikTok's times are whole seconds; a simulator that
changed an order twice in one second would give two versions the same number). A notification is
``{"type", "tts_notification_id", "shop_id", "timestamp", "data"}`` signed in ``Authorization``
(MARKETPLACES.md, TikTok Shop; EcomPHP/tiktokshop-php src/Webhook.php).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.tiktok.signing import webhook_signature


@dataclass
class Unit:
    """One line item: one unit of one SKU."""

    line_id: str
    sku: str
    product_id: str
    sku_id: str
    cancelled: bool = False


@dataclass
class TikTokOrder:
    order_id: str
    units: list[Unit]
    created: int
    updated: int
    status: str = "AWAITING_SHIPMENT"
    notified: list[str] = field(default_factory=list)

    def touch(self, now: float) -> None:
        self.updated = max(int(now), self.updated + 1)

    def document(self) -> dict[str, Any]:
        return {
            "id": self.order_id,
            "status": self.status,
            "create_time": self.created,
            "update_time": self.updated,
            "line_items": [
                {
                    "id": u.line_id,
                    "sku_id": u.sku_id,
                    "product_id": u.product_id,
                    "seller_sku": u.sku,
                    "display_status": "CANCELLED"
                    if u.cancelled or self.status == "CANCELLED"
                    else self.status,
                }
                for u in self.units
            ],
        }


def notification(
    kind: int, shop_id: str, order: TikTokOrder, now: float, notification_id: str | None = None
) -> bytes:
    data: dict[str, Any] = {"order_id": order.order_id, "update_time": order.updated}
    if kind == 1:
        data |= {"order_status": order.status, "is_on_hold_order": False}
    else:
        data |= {"cancel_status": "CANCELLATION_REQUEST_COMPLETE", "cancellations_role": "SELLER"}
    body = {
        "type": kind,
        "tts_notification_id": notification_id or str(uuid.uuid4().int >> 64),
        "shop_id": shop_id,
        "timestamp": int(now),
        "data": data,
    }
    return orjson.dumps(body)


def signed(app_key: str, app_secret: str, body: bytes) -> dict[str, str]:
    return {"Authorization": webhook_signature(app_key, app_secret, body), "Content-Type": "application/json"}
