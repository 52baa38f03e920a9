"""Shopify inbound webhooks: check the HMAC over the raw body, then turn order topics into events.

``verify`` recomputes base64(HMAC-SHA256(webhook secret, raw body)) and compares it in constant time
with ``X-Shopify-Hmac-Sha256``, before anything parses the body. An empty secret refuses everything.

``normalise`` maps topics to canonical events:

- ``orders/create`` -> ``OrderPlaced``, one line per line item, repeated SKUs kept as separate lines
  (the ledger handles repeats);
- ``orders/cancelled`` -> ``OrderCancelled`` naming the order's SKUs;
- ``orders/updated`` -> ``OrderCancelled`` when ``cancelled_at`` is set, else ``OrderPlaced``. The
  ledger deduplicates orders by (channel, order id), so an update of an order it already knows changes
  nothing, while an order first seen through an update (its ``orders/create`` was lost) is still
  counted. A consequence: quantity edits made after the order was first seen are not applied;
- any other topic -> no events, ``note="ignored topic <topic>"``.

The idempotency key is ``shopify:<X-Shopify-Event-Id>`` (Shopify sends the same id for the same
event, across retries), falling back to ``X-Shopify-Webhook-Id`` (stable across retries of one
delivery). Line items without a SKU cannot be matched to master stock: they are left out and named in
``Inbound.note``. An order with no SKU line at all yields no events and ``note="no sku lines"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.base import AdapterError, Inbound, SignatureError, constant_time_equal
from adapters.order_payload import (
    build_event,
    decode_object,
    line_quantity,
    order_id_of,
    skipped_note,
    sku_items,
)
from engine.config import ChannelConfig
from engine.events import OrderCancelled, OrderPlaced

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")

"""A line item that carries a SKU: (index in ``line_items``, sku, the raw item)."""


def signature(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class ShopifyInbound:
    """Inbound half of the Shopify adapter: webhook signature check and order-topic mapping.

    Stateless; one instance serves every Shopify channel, whose ``webhook_secret`` is the app's client
    secret. See the module docstring for the topic mapping and the idempotency key.
    """

    kind = "shopify"

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ``SignatureError`` unless ``X-Shopify-Hmac-Sha256`` signs the raw ``body``."""
        secret = channel.webhook_secret.get_secret_value()
        if not secret:  # an empty key is public knowledge: anyone could sign with it
            raise SignatureError("webhook secret not configured")
        sent = headers.get(SIGNATURE_HEADER, "").strip()
        if not sent:
            raise SignatureError("missing signature")
        if not constant_time_equal(signature(secret, body), sent.encode()):
            raise SignatureError("bad signature")

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        """Turn one verified delivery into events; raise ``AdapterError`` with a reason."""
        topic = headers.get(TOPIC_HEADER, "").strip()
        if not topic:
            raise AdapterError(f"missing {TOPIC_HEADER} header")
        if topic not in ORDER_TOPICS:
            return Inbound(events=[], note=f"ignored topic {topic}")
        key = _event_key(headers)
        order = decode_object(body)
        order_id = order_id_of(order)
        items, skipped = sku_items(order)
        if not items:
            return Inbound(events=[], note="no sku lines")
        common = {"key": key, "channel": channel.id, "order_id": order_id, "at": _at(headers, order)}
        if _is_cancel(topic, order):
            # a cancel returns what the ledger granted, so line quantities are not read (or judged)
            skus = list(dict.fromkeys(sku for _, sku, _ in items))
            event = build_event(OrderCancelled, skus=skus, **common)
        else:
            lines = [{"sku": sku, "quantity": line_quantity(item, i)} for i, sku, item in items]
            event = build_event(OrderPlaced, lines=lines, **common)
        return Inbound(events=[event], note=skipped_note(skipped))


# -- decode -----------------------------------------------------------------------------------
def _event_key(headers: Mapping[str, str]) -> str:
    for name in ("x-shopify-event-id", "x-shopify-webhook-id"):
        event_id = headers.get(name, "").strip()
        if event_id:
            return f"shopify:{event_id}"
    raise AdapterError("missing x-shopify-event-id header")


def _is_cancel(topic: str, order: dict[str, Any]) -> bool:
    if topic == "orders/updated":
        return order.get("cancelled_at") is not None
    return topic == "orders/cancelled"


def _at(headers: Mapping[str, str], order: dict[str, Any]) -> float:
    """When the event happened: the trigger time, else the order's own timestamps, else 0."""
    for value in (headers.get("x-shopify-triggered-at"), order.get("updated_at"), order.get("created_at")):
        seconds = _epoch(value)
        if seconds is not None:
            return seconds
    return 0.0


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:  # Shopify always sends an offset; a bare time is read as UTC
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


# -- build ------------------------------------------------------------------------------------
