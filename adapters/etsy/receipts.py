"""Etsy shop receipts (orders) as master needs them, and the one fetch the gateway makes.

``ShopReceipt`` (developers.etsy.com reference getShopReceipt / getShopReceipts): ``receipt_id``,
``status`` (Paid, Completed, Open, Payment Processing, Canceled, Fully Refunded, Partially
Refunded), ``create_timestamp``, ``updated_timestamp`` (epoch seconds), ``transactions[{
transaction_id, listing_id, product_id, sku, quantity}]``. A receipt is a versioned order document.

Unverified, each one function: ``version`` (``updated_timestamp`` in ms: Etsy's timestamps are
whole seconds, so two changes within one second would share a version), ``cancelled`` (only
Canceled returns units; refunds keep them, as Etsy refunds without restocking), ``restocks``
(the ``cancel_restocks`` key, default yes).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters import blocking_http
from adapters.base import AdapterError
from adapters.etsy import auth
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

FETCH_TIMEOUT_S = 2.0
RESOURCE = re.compile(r"/shops/(\d{1,20})/receipts/(\d{1,20})/?$")


def receipts_path(shop_id: int) -> str:
    return f"/v3/application/shops/{shop_id}/receipts"


def shop_of(channel: ChannelConfig) -> int:
    shop = getattr(channel, "shop_id", None)
    if not isinstance(shop, int):
        raise AdapterError("set shop_id: receipts are read under the seller's shop")
    return shop


def version(receipt: dict[str, Any]) -> int:
    stamp = receipt.get("updated_timestamp", receipt.get("update_timestamp"))
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or stamp < 0:
        stamp = receipt.get("create_timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or stamp < 0:
        raise AdapterError("receipt without updated_timestamp or create_timestamp")
    return round(stamp * 1000)


def cancelled(receipt: dict[str, Any]) -> bool:
    return str(receipt.get("status", "")).strip().lower() == "canceled"


def restocks(channel: ChannelConfig) -> bool:
    value = getattr(channel, "cancel_restocks", None)
    return True if value is None else bool(value)


def units(receipt: dict[str, Any]) -> tuple[dict[str, int], int]:
    """SKU -> units over the receipt's transactions, and how many transactions had no SKU."""
    out: dict[str, int] = {}
    skipped = 0
    for row in receipt.get("transactions") or []:
        sku, qty = (row.get("sku"), row.get("quantity")) if isinstance(row, dict) else (None, None)
        if isinstance(sku, str) and sku.strip() and type(qty) is int and qty > 0:
            out[sku] = out.get(sku, 0) + qty
        else:
            skipped += 1
    return out, skipped


def channel_order(receipt: dict[str, Any], restock: bool = True) -> ChannelOrder | None:
    """One listed receipt as a versioned document (None without an id, a time or a SKU line)."""
    rid, created = receipt.get("receipt_id"), receipt.get("create_timestamp")
    if type(rid) is not int or isinstance(created, bool) or not isinstance(created, int | float):
        return None
    try:
        v = version(receipt)
    except AdapterError:
        return None
    lines, _ = units(receipt)
    if not lines:
        return None
    return ChannelOrder(
        order_id=str(rid),
        lines=tuple(lines.items()),
        at=float(created),
        modified=v / 1000,
        cancelled=cancelled(receipt),
        version=v,
        restock=restock,
    )


def fetch_sync(channel: ChannelConfig, receipt_id: int) -> dict[str, Any]:
    """``getShopReceipt``, blocking at most ``FETCH_TIMEOUT_S`` a call; ``AdapterError`` saying why not."""
    tokens = auth.tokens_for(channel)
    url = f"{channel.base_url.rstrip('/')}{receipts_path(shop_of(channel))}/{receipt_id}"
    status = 0
    for attempt in range(2):
        try:
            token = tokens.ensure_sync(FETCH_TIMEOUT_S)
            with blocking_http.client(FETCH_TIMEOUT_S) as client:
                response = client.get(url, headers=auth.headers(channel, token))
        except (auth.TokenError, httpx.HTTPError) as exc:
            raise AdapterError(f"getShopReceipt failed ({type(exc).__name__}); backfill reads it") from None
        status = response.status_code
        if status == 401 and attempt == 0:
            tokens.forget(token)
            continue
        if status != 200:
            break
        body = response.json()
        if isinstance(body, dict) and body.get("receipt_id") == receipt_id:
            return body
        raise AdapterError("getShopReceipt answered another receipt")
    raise AdapterError(f"getShopReceipt answered HTTP {status}; backfill reads the receipt")
