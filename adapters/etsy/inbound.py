"""Etsy inbound: webhook deliveries verified over the raw bytes, then the receipt they point at.

``verify``: Standard Webhooks (``adapters.etsy.signature``), before any parsing. ``normalise``:
the flat payload ``{"event_type", "resource_url": ".../shops/{shop_id}/receipts/{receipt_id}",
"shop_id"}`` (MARKETPLACES.md, Etsy) is thin, so the receipt is fetched (``getShopReceipt``, from
``base_url``: the URL in the payload only names the receipt, it is never fetched as given) and
becomes one versioned order document: ``order_placed`` while it holds units, ``order_cancelled``
once Canceled. The key is the receipt's state, ``etsy:<receipt_id>:<version>``, so a redelivery,
or a late ``order.paid`` fetched after a cancel, repeats an answer instead of moving stock.
Event types outside ``event_types`` (``order.paid`` only, by default) are answered 200, ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.base import AdapterError, Inbound, SignatureError
from adapters.etsy import receipts, signature
from adapters.etsy.auth import secret
from adapters.order_payload import build_event, decode_object
from engine.config import ChannelConfig
from engine.events import OrderCancelled, OrderPlaced

DEFAULT_EVENTS = ("order.paid",)
Fetch = Callable[[int], dict[str, Any]]


def event_types(channel: ChannelConfig) -> tuple[str, ...]:
    configured = getattr(channel, "event_types", None)
    return tuple(configured) if isinstance(configured, list) else DEFAULT_EVENTS


def receipt_ref(payload: dict[str, Any], shop_id: int | None) -> int:
    """The receipt id the delivery names; refused when it names another shop than this channel's."""
    found = receipts.RESOURCE.search(str(payload.get("resource_url", ""))[:500])
    if found is None:
        raise AdapterError("resource_url must name /shops/{shop_id}/receipts/{receipt_id}")
    shop, rid = int(found.group(1)), int(found.group(2))
    sent_shop = payload.get("shop_id")
    if sent_shop is not None and str(sent_shop) != str(shop):
        raise AdapterError("shop_id and resource_url name different shops")
    if shop_id is not None and shop != shop_id:
        raise AdapterError("the delivery is for another shop than this channel's shop_id")
    return rid


def events_of(channel_id: str, receipt: dict[str, Any], restock: bool) -> Inbound:
    order = receipts.channel_order(receipt, restock)
    if order is None:
        return Inbound(note="receipt without SKU lines: nothing to decide")
    _, skipped = receipts.units(receipt)
    note = f"skipped {skipped} transactions without sku" if skipped else ""
    common = {
        "channel": channel_id,
        "order_id": order.order_id,
        "version": order.version,
        "at": order.modified,
    }
    key = f"etsy:{order.order_id}:{order.version}"
    if order.cancelled:
        skus = [sku for sku, _ in order.lines]
        event = build_event(OrderCancelled, key=f"{key}:cancelled", skus=skus, restock=restock, **common)
        return Inbound(events=[event], note=note or "cancelled")
    lines = [{"sku": sku, "quantity": q} for sku, q in order.lines]
    return Inbound(events=[build_event(OrderPlaced, key=key, lines=lines, **common)], note=note)


def normalise(channel: ChannelConfig, body: bytes, fetch: Fetch) -> Inbound:
    payload = decode_object(body)
    kind = payload.get("event_type")
    if not isinstance(kind, str) or kind not in event_types(channel):
        return Inbound(note=f"ignored event type {str(kind)[:60]}")
    shop = getattr(channel, "shop_id", None)
    rid = receipt_ref(payload, shop if isinstance(shop, int) else None)
    return events_of(channel.id, fetch(rid), receipts.restocks(channel))


@dataclass
class EtsyInbound:
    kind: str = "etsy"
    calls_out = True
    """``normalise`` fetches the receipt: the gateway runs it off its event loop."""
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def verify(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
        scheme = getattr(channel, "signature_scheme", None) or "standard-webhooks"
        if scheme != "standard-webhooks":
            raise SignatureError(f"unknown signature_scheme {scheme!r}")
        encoding = getattr(channel, "signature_secret_encoding", None) or "base64"
        text = secret(channel.webhook_secret)
        key = signature.key_bytes(text, encoding) if text else b""
        tolerance = getattr(channel, "signature_tolerance_s", None) or signature.TOLERANCE_S
        signature.verify(key, headers, body, self.clock(), float(tolerance))

    def normalise(self, channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> Inbound:
        return normalise(channel, body, lambda rid: receipts.fetch_sync(channel, rid))
