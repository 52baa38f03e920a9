"""WooCommerce inbound webhooks: check the HMAC over the raw body, then map order statuses to events.

``verify`` compares base64(HMAC-SHA256(decoded secret, raw body)) in constant time with
``X-WC-Webhook-Signature``, before any parsing; an empty secret refuses everything. WooCommerce signs
with ``wp_specialchars_decode($secret, ENT_QUOTES)`` (includes/class-wc-webhook.php), which decodes
only ``&amp; &lt; &gt; &quot;`` and numeric ``& < > " '``: ``decode_secret`` mirrors that, since
``html.unescape`` would also decode ``&copy;`` or ``&copy`` and break a secret containing such text.
The creation ping (form body ``webhook_id=<id>``, no signature or topic header) passes ``verify`` in
exactly that shape and ``normalise`` answers ``note="ping"``; nothing else passes unsigned.

Topics ``order.created`` and ``order.updated`` (the REST v3 order, the default payload) by status:
``cancelled``, ``refunded``, ``failed`` -> ``OrderCancelled`` naming the order's SKUs; ``pending``,
``processing``, ``on-hold``, ``completed`` -> ``OrderPlaced`` on every update (the ledger deduplicates
orders by (channel, order id), so only the first counts); other statuses (``checkout-draft``,
``trash``...) -> no events, ``note="ignored status ..."``. WooCommerce sends no event id
(``X-WC-Webhook-Delivery-ID`` changes on every delivery), so the idempotency key comes from the
resource: ``woocommerce:<id>:<status>:<date_modified>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
ORDER_TOPICS = ("order.created", "order.updated")
CANCELLED_STATUSES = ("cancelled", "refunded", "failed")
PLACED_STATUSES = ("pending", "processing", "on-hold", "completed")

_PING = re.compile(rb"webhook_id=[0-9]{1,20}")
_ENTITY = re.compile(r"&(?:quot|lt|gt|amp|#0*(?:34|38|39|60|62)|#[xX]0*(?:22|26|27));")
# entity name or code point (decimal or hex, zero padding stripped) -> character
_DECODED = (
    dict.fromkeys(("amp", "38", "26"), "&")
    | dict.fromkeys(("quot", "34", "22"), '"')
    | dict.fromkeys(("39", "27"), "'")
    | dict.fromkeys(("lt", "60"), "<")
    | dict.fromkeys(("gt", "62"), ">")
)

"""A line item that carries a SKU: (index in ``line_items``, sku, the raw item)."""


def decode_secret(secret: str) -> str:
    """WordPress ``wp_specialchars_decode($secret, ENT_QUOTES)``: the key WooCommerce signs with."""
    return _ENTITY.sub(lambda m: _DECODED[m.group(0)[1:-1].lstrip("#xX0")], secret)


def signature(secret: str, body: bytes) -> str:
    """The ``X-WC-Webhook-Signature`` value WooCommerce sends for ``body`` with ``secret``."""
    key = decode_secret(secret).encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    """The unsigned delivery WooCommerce sends once when a webhook is created."""
    return SIGNATURE_HEADER not in headers and TOPIC_HEADER not in headers and bool(_PING.fullmatch(body))


class WooCommerceInbound:
    """Inbound half of the WooCommerce adapter: webhook signature check and order-status mapping.

    Stateless; one instance serves every WooCommerce channel, whose ``webhook_secret`` is the secret
    shown in the store's webhook settings. See the module docstring for the ping, the status mapping
    and the idempotency key.
    """

    kind = "woocommerce"

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ``SignatureError`` unless the body is signed (``X-WC-Webhook-Signature``) or a ping."""
        secret = channel.webhook_secret.get_secret_value()
        if not secret:  # an unconfigured channel takes nothing, not even a ping
            raise SignatureError("webhook secret not configured")
        if is_ping(headers, body):
            return
        sent = headers.get(SIGNATURE_HEADER, "").strip()
        if not sent:
            raise SignatureError("missing signature")
        if not constant_time_equal(signature(secret, body), sent.encode()):
            raise SignatureError("bad signature")

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        """Turn one verified delivery into events; raise ``AdapterError`` with a reason."""
        if is_ping(headers, body):
            return Inbound(events=[], note="ping")
        topic = headers.get(TOPIC_HEADER, "").strip()
        if not topic:
            raise AdapterError(f"missing {TOPIC_HEADER} header")
        if topic not in ORDER_TOPICS:
            return Inbound(events=[], note=f"ignored topic {topic}")
        order = decode_object(body)
        order_id, status = order_id_of(order), _status(order)
        if status not in CANCELLED_STATUSES + PLACED_STATUSES:
            return Inbound(events=[], note=f"ignored status {status}")
        key = f"woocommerce:{order_id}:{status}:{_modified(order)}"
        items, skipped = sku_items(order)
        if not items:
            return Inbound(events=[], note="no sku lines")
        common = {"key": key, "channel": channel.id, "order_id": order_id, "at": _at(order)}
        if status in CANCELLED_STATUSES:
            # a cancel returns what the ledger granted, so line quantities are not read (or judged)
            event = build_event(
                OrderCancelled, skus=list(dict.fromkeys(sku for _, sku, _ in items)), **common
            )
        else:
            lines = [{"sku": sku, "quantity": line_quantity(item, i)} for i, sku, item in items]
            event = build_event(OrderPlaced, lines=lines, **common)
        return Inbound(events=[event], note=skipped_note(skipped))


# -- decode -----------------------------------------------------------------------------------
def _status(order: dict[str, Any]) -> str:
    value = order.get("status")
    if not isinstance(value, str) or not value:
        raise AdapterError("status must be a non-empty string")
    return value


def _modified(order: dict[str, Any]) -> str:
    for name in ("date_modified", "date_modified_gmt"):
        value = order.get(name)
        if isinstance(value, str) and value:
            return value
    raise AdapterError("date_modified must be a non-empty string")


def _at(order: dict[str, Any]) -> float:
    """Last modification in unix seconds (``date_modified_gmt`` is UTC without an offset), else 0."""
    value = order.get("date_modified_gmt")
    if not isinstance(value, str):
        return 0.0
    try:
        moment = datetime.fromisoformat(value.strip())
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return 0.0


# -- build ------------------------------------------------------------------------------------
