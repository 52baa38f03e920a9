"""Etsy read side for reconciliation: receipts since a time, listed quantities.

Orders: ``getShopReceipts`` ``GET /v3/application/shops/{shop_id}/receipts?min_last_modified=<epoch
s>&limit&offset`` (``{count, results}``, limit 1..100; developers.etsy.com reference), each receipt
a versioned document (``adapters.etsy.receipts.channel_order``). This is also the polling fallback
for channels without webhooks (Etsy grants webhooks to commercial-access apps only): the
supervisor's scheduled reconciliation runs it on the channel's budget share, every
``reconcile_every_s`` (``poll_every_s`` sets it). Quantities: every active listing's inventory
(``adapters.etsy.inventory.pages``). Every request costs one unit, paced by the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from adapters.etsy import inventory, receipts
from adapters.reading import Pace, ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


@dataclass
class EtsyReconcile:
    kind: str = "etsy"
    page_size: int = 100
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _size(self, channel: ChannelConfig) -> int:
        return int(getattr(channel, "reconcile_page_size", None) or self.page_size)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        shop, size, offset = receipts.shop_of(channel), self._size(channel), 0
        restock = receipts.restocks(channel)
        while True:
            params = {
                "min_last_modified": int(since),
                "limit": size,
                "offset": offset,
                "sort_on": "created",
                "sort_order": "asc",
            }
            body = await inventory.etsy_get(
                client,
                channel,
                receipts.receipts_path(shop),
                params,
                before=_paced(pace, stats),
                sleep=self.sleep,
            )
            rows = [r for r in body.get("results") or [] if isinstance(r, dict)]
            page = [o for o in (receipts.channel_order(r, restock) for r in rows) if o is not None]
            if page:
                yield page
            offset += size
            count = body.get("count")
            if not rows or (type(count) is int and offset >= count):
                return

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        shop = receipts.shop_of(channel)
        pages = inventory.pages(
            client, channel, shop, self._size(channel), before=_paced(pace, stats), sleep=self.sleep
        )
        async for page in pages:
            yield {sku: ids["listed"] for sku, ids in page.items()}


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(1.0)
        stats.add(1.0)

    return before
