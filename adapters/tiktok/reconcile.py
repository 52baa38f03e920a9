"""TikTok Shop read side for reconciliation: orders changed since a time, listed quantities.

Orders: ``POST /order/202309/orders/search?page_size=N&sort_field=create_time&sort_order=ASC
[&page_token=T]`` with ``{"update_time_ge": <unix s>}`` (``data {orders, next_page_token,
total_count}``; paging in the query, filters in the body: EcomPHP/tiktokshop-php
src/Resources/Order.php ``getOrderList``), each a versioned document
(``adapters.tiktok.orders.channel_order``). Quantities: Search Products pages read through
Inventory Search (``adapters.tiktok.catalog.listed``). Every request costs one unit of the
channel's budget, paced by the caller. Extra: ``reconcile_page_size`` (50).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.reading import Pace, ReadStats
from adapters.tiktok import api, catalog
from adapters.tiktok.orders import SEARCH, channel_order
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


@dataclass
class TikTokReconcile:
    kind: str = "tiktok"
    page_size: int = catalog.PAGE_SIZE
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _size(self, channel: ChannelConfig) -> int:
        return int(getattr(channel, "reconcile_page_size", None) or self.page_size)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        token, body = "", {"update_time_ge": math.floor(since)}
        while True:
            query: dict[str, Any] = {
                "page_size": self._size(channel),
                "sort_field": "create_time",
                "sort_order": "ASC",
            }
            if token:
                query["page_token"] = token
            data = await api.call(
                client, channel, "POST", SEARCH, query, body, before=_paced(pace, stats), sleep=self.sleep
            )
            rows = [r for r in data.get("orders") or [] if isinstance(r, dict)]
            page = [o for o in (channel_order(r) for r in rows) if o is not None]
            if page:
                yield page
            token = str(data.get("next_page_token") or "")
            if not token or not rows:
                return

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        pages = catalog.listed(
            client, channel, self._size(channel), before=_paced(pace, stats), sleep=self.sleep
        )
        async for page in pages:
            yield page


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(1.0)
        stats.add(1.0)

    return before
