"""``searchListingsItems`` (Listings Items API 2021-08-01) paged to the end, past its 1000-item cap.

"The maximum number of items (SKUs) that can be returned and paged through is 1000"
(``ItemSearchResults.numberOfResults``, models/listings-items-api-model/listingsItems_2021-08-01.json);
``pageSize`` is at most 20. So the search runs oldest first (``sortBy=createdDate``,
``sortOrder=ASC``) and, when a search ends with fewer items seen than ``numberOfResults``, starts
again from the last item's ``createdDate`` (``createdAfter``, inclusive: items seen already are
skipped by SKU). Catalog import and reconciliation both read through here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from adapters.amazon.lwa import LwaTokens
from adapters.amazon.sp_read import bucket, sp_get
from engine.config import ChannelConfig

API = "/listings/2021-08-01/items"
PAGE_SIZE = 20


def seller_and_marketplace(channel: ChannelConfig) -> tuple[str, str]:
    seller, market = getattr(channel, "seller_id", None), getattr(channel, "marketplace_id", None)
    if not seller or not market:
        raise ValueError(f"channel {channel.id}: set seller_id and marketplace_id")
    return str(seller), str(market)


def item_url(channel: ChannelConfig, sku: str) -> str:
    seller, _ = seller_and_marketplace(channel)
    return f"{channel.base_url.rstrip('/')}{API}/{quote(seller, safe='')}/{quote(sku, safe='')}"


def summary_of(item: dict[str, Any], marketplace: str) -> dict[str, Any]:
    """The item's summary for ``marketplace`` (else its first), or an empty dict."""
    summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
    mine = [s for s in summaries if s.get("marketplaceId") == marketplace]
    return (mine or summaries or [{}])[0]


def default_quantity(item: dict[str, Any]) -> int | None:
    """The merchant-fulfilled (``DEFAULT``) quantity in ``fulfillmentAvailability``, if listed."""
    for entry in item.get("fulfillmentAvailability") or []:
        qty = entry.get("quantity") if isinstance(entry, dict) else None
        if entry.get("fulfillmentChannelCode") == "DEFAULT" and type(qty) is int:
            return qty
    return None


async def search(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    tokens: LwaTokens,
    included: str,
    sleep: Callable[[float], Awaitable[None]],
    before: Callable[[], Awaitable[None]] | None = None,
    page_size: int | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of listings items (each SKU once), ``includedData=included`` (``summaries`` is added
    for ``createdDate``), ``page_size`` a page (at most and by default ``PAGE_SIZE``)."""
    size = max(1, min(PAGE_SIZE, page_size or PAGE_SIZE))
    seller, market = seller_and_marketplace(channel)
    url = f"{channel.base_url.rstrip('/')}{API}/{quote(seller, safe='')}"
    op = bucket(seller, "searchListingsItems")
    seen: set[str] = set()
    after: str | None = None
    while True:
        found, total, last_created, token = 0, 0, None, None
        while True:
            params: list[tuple[str, str | int | float | bool | None]] = [
                ("marketplaceIds", market),
                ("includedData", ",".join(dict.fromkeys(["summaries", *included.split(",")]))),
                ("pageSize", str(size)),
                ("sortBy", "createdDate"),
                ("sortOrder", "ASC"),
            ]
            params += [("createdAfter", after)] if after else []
            params += [("pageToken", token)] if token else []
            body = await sp_get(client, tokens, op, url, params, sleep=sleep, before=before)
            items = [
                i for i in body.get("items") or [] if isinstance(i, dict) and isinstance(i.get("sku"), str)
            ]
            total = int(body.get("numberOfResults") or 0)
            found += len(items)
            fresh = [i for i in items if i["sku"] not in seen]
            seen.update(i["sku"] for i in fresh)
            if items:
                last_created = summary_of(items[-1], market).get("createdDate") or last_created
            if fresh:
                yield fresh
            token = (body.get("pagination") or {}).get("nextToken")
            if not token or not items:
                break
        if found >= total or not last_created or last_created == after:
            return
        after = last_created
