"""Shopify inbound webhooks: check the HMAC over the raw body, then map orders onto versioned documents.

``verify`` recomputes base64(HMAC-SHA256(webhook secret, raw body)) and compares it in constant time
with ``X-Shopify-Hmac-Sha256``, before anything parses the body. An empty secret refuses everything.

``normalise`` accepts the topics ``orders/create``, ``orders/updated``, ``orders/cancelled`` and
``refunds/create`` (any other topic: no events, ``note="ignored topic <topic>"``). Shopify signs the
body only, so what a delivery does is read from the body, never from ``X-Shopify-Topic``:

- an order body (``admin_graphql_api_id`` ``gid://shopify/Order/...``, or ``line_items`` when the id
  is absent) is the order as it stands now: ``order_placed`` while it is as placed, else
  ``order_updated``, with ``version`` = ``updated_at`` in milliseconds and one line per line item
  with a SKU: ``quantity`` = ``current_quantity``, ``kept`` = units refunded with ``no_restock``
  (``adapters.shopify.order_doc`` has the whole mapping and its sources). When ``cancelled_at`` is
  set an ``order_cancelled`` at the same version follows, ``restock`` read from the refunds the
  cancel created. The same body under ``orders/create``, ``orders/updated`` or ``orders/cancelled``
  means the same thing; a replayed body is the same version again and moves nothing.
- a refund body (``refunds/create``: ``order_id`` and ``refund_line_items``, no ``line_items``)
  yields no events, only a note. It carries one refund, not the order: not the other refunds, not
  the edits, not ``current_quantity``, so no absolute document can be built from it, and a relative
  change would count twice with the ``orders/updated`` Shopify sends for the same refund (that
  order body carries the refund in ``refunds[]`` with its ``restock_type``). A lost
  ``orders/updated`` is repaired by backfill, which reads the same document.
- any other body (e.g. a ``gid://shopify/DraftOrder/...``) is ignored with a note, whatever the
  topic header claims.

The idempotency key is ``shopify:<topic>:<order id>:<X-Shopify-Event-Id>`` (falling back to
``X-Shopify-Webhook-Id``). The event id is shared by every delivery of one merchant action (all its
topics, all the orders it touched), so the order id and the topic keep two orders, or two topics of
one order, from sharing a key; the cancel event of a cancelled order adds ``:cancelled``. What still
rests on unsigned headers: the key (a forged event id only makes a new key for the same signed
version, which the ledger answers ``duplicate_order`` or ``stale`` and, as it moved nothing, does not
record: a replay costs no storage, ``engine.idempotency``), which topics are accepted at all (a
forged one can only make a delivery be ignored), and the channel (the URL path).
``X-Shopify-Triggered-At`` is no longer read: ``at`` is the body's ``updated_at``.

Line items without a SKU cannot be matched to master stock: they are left out and named in
``Inbound.note``. An order with no SKU line at all yields no events and ``note="no sku lines"``.
Channel extra ``edit_removals_restock`` (default true): see ``adapters.shopify.order_doc``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
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
from adapters.shopify.order_doc import (
    Item,
    ShopifyOrder,
    cancel_restocked,
    changed,
    current_of,
    doc_lines,
    epoch,
    reason_of,
    refund_lines_rest,
)
from engine.config import ChannelConfig
from engine.events import OrderCancelled, OrderPlaced, OrderUpdated, WireEvent

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
TOPICS = ("orders/create", "orders/updated", "orders/cancelled", "refunds/create")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def flag(channel: ChannelConfig, name: str, default: bool) -> bool:
    """A boolean channel extra, also when it arrives as a string from the environment."""
    value = (channel.model_extra or {}).get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class ShopifyInbound:
    """Inbound half of the Shopify adapter: webhook signature check and the order mapping.

    Stateless; one instance serves every Shopify channel, whose ``webhook_secret`` is the app's client
    secret. See the module docstring for the mapping and the idempotency key.
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
        if topic not in TOPICS:
            return Inbound(events=[], note=f"ignored topic {topic}")
        payload = decode_object(body)
        kind = body_kind(payload)
        if kind == "Refund":
            return Inbound(events=[], note=refund_note(payload))
        if kind != "Order":
            return Inbound(events=[], note=f"ignored: the body is a {kind}, not an order")
        order = rest_order(payload)
        if not any(item.sku is not None for item in order.items):
            return Inbound(events=[], note="no sku lines")
        key = f"shopify:{topic}:{order.order_id}:{_event_id(headers)}"
        events = order_events(channel.id, order, key, flag(channel, "edit_removals_restock", True))
        return Inbound(events=events, note=skipped_note(list(order.skipped)))


# -- decode -----------------------------------------------------------------------------------
def _event_id(headers: Mapping[str, str]) -> str:
    for name in ("x-shopify-event-id", "x-shopify-webhook-id"):
        event_id = headers.get(name, "").strip()
        if event_id:
            return event_id
    raise AdapterError("missing x-shopify-event-id header")


def body_kind(payload: dict[str, Any]) -> str:
    """``Order``, ``Refund`` or another resource type, from the signed body alone."""
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith("gid://shopify/"):
        return gid.split("/")[3] or "unknown resource"
    if "line_items" not in payload and "refund_line_items" in payload and "order_id" in payload:
        return "Refund"
    return "Order"  # validation names what is missing


def refund_note(payload: dict[str, Any]) -> str:
    refund_id, order_id = payload.get("id"), payload.get("order_id")
    return (
        f"refund {refund_id} of order {order_id} noted: stock follows the order's orders/updated "
        "(a refund body does not carry the order's state)"
    )


def rest_order(payload: dict[str, Any]) -> ShopifyOrder:
    """Validate a REST-shaped order body into a ``ShopifyOrder``; raise ``AdapterError``."""
    order_id = order_id_of(payload)
    with_sku, skipped = sku_items(payload)
    items = []
    for i, sku, item in with_sku:
        line_id = item.get("id")
        ref = str(line_id) if isinstance(line_id, int | str) and not isinstance(line_id, bool) else f"#{i}"
        items.append(Item(ref, sku, line_quantity(item, i), current_of(item, i)))
    updated = epoch(payload.get("updated_at"))
    if updated is None:
        raise AdapterError("updated_at must be an ISO 8601 time")
    cancelled = payload.get("cancelled_at") not in (None, "")
    return ShopifyOrder(
        order_id,
        epoch(payload.get("created_at")),
        updated,
        cancelled,
        tuple(items),
        refund_lines_rest(payload.get("refunds")),
        tuple(skipped),
    )


# -- build ------------------------------------------------------------------------------------
def order_events(channel_id: str, order: ShopifyOrder, key: str, removals_restock: bool) -> list[WireEvent]:
    """The order's document (and its cancel, when cancelled), keyed ``key`` and ``key:cancelled``."""
    common: dict[str, Any] = {
        "channel": channel_id,
        "order_id": order.order_id,
        "version": order.version,
        "at": order.updated,
    }
    lines = doc_lines(order, removals_restock)
    if changed(order):
        events = [build_event(OrderUpdated, key=key, lines=lines, reason=reason_of(order), **common)]
    else:
        events = [build_event(OrderPlaced, key=key, lines=lines, **common)]
    if order.cancelled:
        skus = list(dict.fromkeys(line["sku"] for line in lines))
        restock = cancel_restocked(order)
        events.append(
            build_event(OrderCancelled, key=f"{key}:cancelled", skus=skus, restock=restock, **common)
        )
    return events
