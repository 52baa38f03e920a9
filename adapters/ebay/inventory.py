"""Reading the Inventory API: inventory items page by page, each SKU's offers, the listed quantity.

``GET /sell/inventory/v1/inventory_item?limit=N&offset=M`` (``inventoryItems[{sku, availability
{shipToLocationAvailability {quantity}}}]``, ``total``; limit 1..200) and ``GET
/sell/inventory/v1/offer?sku=`` (``offers[{offerId, sku, availableQuantity, listing {listingId}}]``).
A listing shows the lower of the item's ship-to-location quantity and its offer's
``availableQuantity`` (MARKETPLACES.md, eBay), so that lower value is what we call listed.
The catalog import and reconciliation's quantity read share ``pages``; the ids a SKU maps to are
``{"offers": [offerId...], "listings": [listingId...], "listed": N}``.
Every request costs one unit (eBay's quotas count calls); 401 drops the user token and fetches a new
one once, 429 and 5xx wait ``Retry-After`` (else a backoff) and try again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from adapters.authorized_get import Before, get_object, nothing
from adapters.ebay import oauth
from engine.config import ChannelConfig

ITEMS = "/sell/inventory/v1/inventory_item"
OFFERS = "/sell/inventory/v1/offer"


async def ebay_get(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    path: str,
    params: dict[str, Any],
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """GET ``base_url + path`` as the seller until 200; its JSON object. Errors show no URL query."""
    url = f"{channel.base_url.rstrip('/')}{path}"
    return await get_object(
        client, oauth.tokens_for(channel), url, params, lambda token: {"Authorization": f"Bearer {token}"},
        label=f"eBay {path}", before=before, sleep=sleep, max_attempts=max_attempts,
    )  # fmt: skip


def item_quantity(item: dict[str, Any]) -> int | None:
    ship = ((item.get("availability") or {}).get("shipToLocationAvailability") or {}).get("quantity")
    return ship if type(ship) is int else None


def listed(item: dict[str, Any], offers: list[dict[str, Any]]) -> int | None:
    """What buyers see: the lower of the item's quantity and each offer's ``availableQuantity``."""
    values = [item_quantity(item)] + [o.get("availableQuantity") for o in offers]
    known = [v for v in values if type(v) is int]
    return min(known) if known else None


async def pages(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    page_size: int,
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Pages of SKU -> ids (offers, listings, listed), every inventory item with its offers."""
    offset = 0
    while True:
        params = {"limit": page_size, "offset": offset}
        body = await ebay_get(client, channel, ITEMS, params, before=before, sleep=sleep)
        items = [i for i in body.get("inventoryItems") or [] if isinstance(i, dict) and i.get("sku")]
        page: dict[str, dict[str, Any]] = {}
        for item in items:
            found = await ebay_get(client, channel, OFFERS, {"sku": item["sku"]}, before=before, sleep=sleep)
            offers = [o for o in found.get("offers") or [] if isinstance(o, dict)]
            page[str(item["sku"])] = {
                "offers": [str(o["offerId"]) for o in offers if o.get("offerId")],
                "listings": [
                    str(o["listing"]["listingId"])
                    for o in offers
                    if isinstance(o.get("listing"), dict) and o["listing"].get("listingId")
                ],
                "listed": listed(item, offers),
            }
        if page:
            yield page
        offset += page_size
        total = body.get("total")
        if not items or (type(total) is int and offset >= total):
            return
