"""TikTok Shop inbound: webhooks verified over the raw bytes, then the order they name, fetched.

Envelope (MARKETPLACES.md, TikTok Shop; EcomPHP/tiktokshop-php src/Webhook.php ``capture``):
``{"type": int, "tts_notification_id", "shop_id", "timestamp", "data": {...}}``. Type 1 (order
status change: ``data.order_id``, ``data.order_status``) is thin: the order is fetched (Get Order
Detail, ``adapters.tiktok.orders.fetch_sync``) for its lines, so ``INBOUND.calls_out`` is set and
the gateway decodes on a worker thread. Types in ``ORDER_TYPES`` are handled alike (11, a
cancellation's status, is unverified: a partial cancel changes no order status); other types are
answered 200 and ignored.

The event is the order as fetched, a versioned document (``adapters.tiktok.orders``): CANCELLED is
``order_cancelled`` with restock, a first status (UNPAID, ON_HOLD, AWAITING_SHIPMENT) with no line
cancelled is ``order_placed``, anything else that holds stock ``order_updated``. The key is
``tiktok:<tts_notification_id>:<version>``: the notification's stable id (its idempotency key) and
the version of what the fetch returned, so the same key always describes the same document even
when a redelivery finds the order moved on (then it is a newer version under a key of its own, and
the ledger's version rules decide it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterError, Inbound
from adapters.order_payload import build_event, decode_object
from adapters.tiktok import orders, signing
from adapters.tiktok.tokens import secret
from engine.config import ChannelConfig
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated

ORDER_TYPES = frozenset({1, 11})
"""Notification types that name an order whose lines may have changed (1: order status change;
11: cancellation status change, unverified)."""
Fetch = Callable[[str], dict[str, Any]]


def notification(envelope: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    nid, kind, data = envelope.get("tts_notification_id"), envelope.get("type"), envelope.get("data")
    if not isinstance(nid, str | int) or isinstance(nid, bool) or not str(nid) or len(str(nid)) > 200:
        raise AdapterError("tts_notification_id missing")
    if type(kind) is not int:
        raise AdapterError("type must be an integer")
    return str(nid), kind, data if isinstance(data, dict) else {}


def normalise(channel_id: str, shop_id: str | None, body: bytes, fetch: Fetch) -> Inbound:
    envelope = decode_object(body)
    nid, kind, data = notification(envelope)
    if shop_id and str(envelope.get("shop_id")) != shop_id:
        raise AdapterError(f"shop_id {str(envelope.get('shop_id'))[:40]!r} is not this channel's shop_id")
    if kind not in ORDER_TYPES:
        return Inbound(note=f"ignored notification type {kind}")
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id or len(order_id) > 100:
        raise AdapterError("data.order_id missing")
    return order_event(channel_id, f"tiktok:{nid}", fetch(order_id))


def order_event(channel_id: str, key: str, order: dict[str, Any]) -> Inbound:
    """The fetched order as one canonical event (see the module docstring)."""
    status = str(order.get("status"))
    held = orders.holds_stock(status)
    if held is False:
        return Inbound(note=f"ignored order status {status[:40]}")
    version = orders.order_version(order)
    if version is None:
        raise AdapterError("the fetched order has no update_time")
    units = orders.sku_units(order)
    if not units:
        return Inbound(note="no line with a seller SKU")
    common = {
        "channel": channel_id,
        "order_id": str(order.get("id")),
        "version": version,
        "at": version / 1000,
        "key": f"{key}:{version}",
    }
    if held is None:
        event = build_event(OrderCancelled, skus=list(units), restock=orders.cancel_restocks(order), **common)
        return Inbound(events=[event], note="cancelled")
    lines = [{"sku": sku, "quantity": q} for sku, q in units.items()]
    items = order.get("line_items") or []
    partly = any(isinstance(i, dict) and i.get("display_status") == orders.CANCELLED for i in items)
    if status in orders.FIRST and not partly:
        event = build_event(OrderPlaced, lines=lines, **common)
    else:
        reason = f"status {status}" + (", lines cancelled" if partly else "")
        event = build_event(OrderUpdated, lines=lines, reason=reason[:100], **common)
    return Inbound(events=[event])


@dataclass
class TikTokInbound:
    kind: str = "tiktok"
    calls_out = True
    """``normalise`` fetches the order: the gateway runs it off its event loop."""

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        app_key = str(getattr(channel, "app_key", None) or "")
        signing.verify_webhook(app_key, secret(getattr(channel, "app_secret", None)), headers, body)

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        def fetch(order_id: str) -> dict[str, Any]:
            return orders.fetch_sync(channel, order_id)

        shop = getattr(channel, "shop_id", None)
        return normalise(channel.id, str(shop) if shop else None, body, fetch)
