"""eBay read side for reconciliation: Fulfillment ``getOrders`` since a time, listed quantities.

Orders: ``GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[<ISO ms Z>..]&limit=N&offset=M``
(``orders``, ``total``; limit up to 200; orders awaiting payment are not listed: MARKETPLACES.md,
eBay), each a versioned document (``adapters.ebay.orders.channel_order``). Quantities: every
inventory item with its offers (``adapters.ebay.inventory``), the lower of the two per SKU, then
the channel's Trading listings from ``GetMyeBaySelling`` (``adapters.ebay.selling``). Every
request costs one unit of the channel's budget, paced by the caller. Extra: ``reconcile_page_size``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from adapters.ebay import inventory, selling
from adapters.ebay.orders import PATH, channel_order
from adapters.reading import Pace, ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def modified_filter(since: float) -> str:
    """getOrders' ``filter`` for orders modified at or after ``since`` (an open-ended range)."""
    return f"lastmodifieddate:[{iso_ms(since)}..]"


@dataclass
class EbayReconcile:
    kind: str = "ebay"
    page_size: int = 100
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _size(self, channel: ChannelConfig) -> int:
        return int(getattr(channel, "reconcile_page_size", None) or self.page_size)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        size, offset = self._size(channel), 0
        while True:
            params = {"filter": modified_filter(since), "limit": size, "offset": offset}
            body = await inventory.ebay_get(
                client, channel, PATH, params, before=_paced(pace, stats), sleep=self.sleep
            )
            rows = [r for r in body.get("orders") or [] if isinstance(r, dict)]
            page = [o for o in (channel_order(r) for r in rows) if o is not None]
            if page:
                yield page
            offset += size
            total = body.get("total")
            if not rows or (type(total) is int and offset >= total):
                return

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        pages = inventory.pages(
            client, channel, self._size(channel), before=_paced(pace, stats), sleep=self.sleep
        )
        async for page in pages:
            found = {sku: ids["listed"] for sku, ids in page.items() if ids["listed"] is not None}
            if found:
                yield found
        async for legacy in selling.listed(client, channel, before=_paced(pace, stats), sleep=self.sleep):
            yield legacy


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(1.0)
        stats.add(1.0)

    return before
