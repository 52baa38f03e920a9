"""WooCommerce inbound webhooks: check the HMAC over the raw body, then map order statuses to events.

``verify`` compares base64(HMAC-SHA256(decoded secret, raw body)) in constant time with
``X-WC-Webhook-Signature``, before any parsing; an empty secret refuses everything. WooCommerce signs
with ``wp_specialchars_decode($secret, ENT_QUOTES)`` (includes/class-wc-webhook.php), which decodes
only ``&amp; &lt; &gt; &quot;`` and numeric ``& < > " '``: ``decode_secret`` mirrors that, since
``html.unescape`` would also decode ``&copy;`` or ``&copy`` and break a secret containing such text.
The creation ping (form body ``webhook_id=<id>``, no signature or topic header) passes ``verify`` in
exactly that shape and ``normalise`` answers ``note="ping"``; nothing else passes unsigned.

Topics ``order.created`` and ``order.updated`` (the REST v3 order, the default payload) become versioned
order documents (``adapters.woocommerce.order_stock``: what core's stock functions hold out of stock
per line, by status and ``_reduced_stock`` meta): ``pending`` holds nothing, ``processing`` /
``on-hold`` / ``completed`` hold what core reduced (less restocking refunds), ``cancelled`` gives
everything back (``order_cancelled``), ``failed`` / ``refunded`` move nothing by themselves (they
restate what the meta shows, or emit nothing). Partial refunds arrive as ``order.updated`` with no
status change and lower the held units by what was restocked. The version is ``date_modified_gmt`` in
milliseconds. WooCommerce sends no event id (``X-WC-Webhook-Delivery-ID`` changes on every delivery),
so the idempotency key comes from the resource: ``woocommerce:<id>:<version>``; ``order.created`` and
``order.updated`` deliveries of one state are the same event.

WooCommerce signs the body only: ``X-WC-Webhook-Topic``, ``-Resource``, ``-Event``, ``-Source``,
``-ID`` and ``-Delivery-ID`` can be forged by anyone holding one captured delivery. So what a delivery
does, and its key, come from the signed body alone (status, ``_reduced_stock``, dates, id): the same
body under any accepted topic is the same event under the same key, and a replay is answered from its
record. The topic header only says whether the body is read at all (``order.deleted`` carries only
an id, and other resources are no orders): a forged one can make a genuine delivery be ignored, which
moves nothing (backfill reads the order later), never make a body move stock it does not say.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from adapters.base import AdapterError, Inbound, SignatureError, constant_time_equal
from adapters.order_payload import decode_object, skipped_note
from adapters.woocommerce.order_stock import OrderDoc, doc_events, order_doc
from engine.config import ChannelConfig

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
ORDER_TOPICS = ("order.created", "order.updated")

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
        doc = order_doc(decode_object(body))
        events, note = doc_events(channel.id, doc, event_key(doc))
        return Inbound(events=events, note=note or skipped_note(list(doc.skipped)))


def event_key(doc: OrderDoc) -> str:
    """The idempotency key of one state of an order: ``woocommerce:<order id>:<version>``."""
    return f"woocommerce:{doc.order_id}:{doc.version}"
