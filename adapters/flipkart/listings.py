"""Flipkart listings as the catalog import and reconciliation read them.

Which SKUs exist: ``POST /sellers/listings/v3/product/search`` ``{"batchNo", "internalState"}``, up to
20 listings a batch (``listingData[{sku, productId, listingId, status}]``, ``totalListingsCount``;
flipkart.github.io/fk-api-platform-docs "Search listings and product details"), ACTIVE and INACTIVE
listings alike. Their stock: ``GET /sellers/listings/v3/{skuIds}``, comma-separated, at most 10 a
call (api-docs listing-api-docs/v3 GetListingsAPI), ``available {sku: {product_id, locations[{id,
status, inventory}]}}`` and ``unavailable [sku]``. The location pushed and read is the channel's
``location_id``, else the listing's first (``location``); a SKU with a comma cannot be named in that
path and is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from adapters.flipkart.api import call
from engine.config import ChannelConfig

SEARCH = "/sellers/listings/v3/product/search"
DETAILS = "/sellers/listings/v3/"
SEARCH_BATCH = 20
DETAILS_MAX = 10
STATES = ("ACTIVE", "INACTIVE")

Before = Callable[[], Awaitable[None]] | None
Sleep = Callable[[float], Awaitable[None]]


async def search(
    client: httpx.AsyncClient, channel: ChannelConfig, before: Before, sleep: Sleep = asyncio.sleep
) -> AsyncIterator[list[dict[str, Any]]]:
    """Batches of ``listingData`` entries (each SKU once), every state in ``STATES``."""
    seen: set[str] = set()
    for state in STATES:
        batch = 0
        while True:
            body = {"batchNo": batch, "internalState": state}
            answer = await call(client, channel, "POST", SEARCH, body=body, before=before, sleep=sleep)
            rows = [r for r in answer.get("listingData") or [] if isinstance(r, dict)]
            fresh = [r for r in rows if isinstance(r.get("sku"), str) and r["sku"] and r["sku"] not in seen]
            seen.update(r["sku"] for r in fresh)
            if fresh:
                yield fresh
            batch += 1
            total = answer.get("totalListingsCount")
            if len(rows) < SEARCH_BATCH or (type(total) is int and batch * SEARCH_BATCH >= total):
                break


async def details(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    skus: list[str],
    size: int,
    before: Before,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, dict[str, Any]]:
    """SKU -> its listing (``available``), ``size`` (at most 10) SKUs a call."""
    named = [s for s in skus if "," not in s]
    size = max(1, min(DETAILS_MAX, size))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(named), size):
        path = DETAILS + ",".join(quote(s, safe="") for s in named[i : i + size])
        answer = await call(client, channel, "GET", path, before=before, sleep=sleep)
        available = answer.get("available")
        for sku, listing in (available if isinstance(available, dict) else {}).items():
            if isinstance(listing, dict):
                out[str(sku)] = listing
    return out


def location(channel: ChannelConfig, listing: dict[str, Any]) -> dict[str, Any] | None:
    """The listing's location this channel syncs: ``location_id``'s, else its first."""
    wanted = getattr(channel, "location_id", None)
    found = [loc for loc in listing.get("locations") or [] if isinstance(loc, dict) and loc.get("id")]
    mine = [loc for loc in found if loc["id"] == wanted] if wanted else found
    return mine[0] if mine else None


async def pages(
    client: httpx.AsyncClient, channel: ChannelConfig, size: int, before: Before, sleep: Sleep = asyncio.sleep
) -> AsyncIterator[dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """Pages of SKU -> (listing, its synced location), for every listing with that location."""
    async for rows in search(client, channel, before, sleep):
        found = await details(client, channel, [r["sku"] for r in rows], size, before, sleep)
        page = {sku: (listing, loc) for sku, listing in found.items() if (loc := location(channel, listing))}
        if page:
            yield page
