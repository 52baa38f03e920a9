"""Walmart read side for reconciliation: orders since a time, listed quantities.

Orders: ``GET /v3/orders?lastModifiedStartDate=<ISO ms Z>&limit=N``, then the ``nextCursor`` query
(``adapters.walmart.orders``). Quantities: every SKU's inventory (``adapters.walmart.inventory``).
Each request costs one unit of the channel's budget, paced by the caller. Extra:
``reconcile_page_size`` (orders 100, at most 200; inventories at most 50).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from adapters.reading import Pace, ReadStats
from adapters.walmart import inventory
from adapters.walmart.orders import PATH, channel_order
from adapters.walmart.outbound import ship_node
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class WalmartReconcile:
    kind: str = "walmart"
    page_size: int = 100
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _size(self, channel: ChannelConfig, most: int) -> int:
        return max(1, min(most, int(getattr(channel, "reconcile_page_size", None) or self.page_size)))

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        params = [("lastModifiedStartDate", iso_ms(since)), ("limit", str(self._size(channel, 200)))]
        while True:
            body = await inventory.walmart_get(
                client, channel, PATH, params, before=_paced(pace, stats), sleep=self.sleep
            )
            listing = body.get("list") or {}
            rows = [r for r in (listing.get("elements") or {}).get("order") or [] if isinstance(r, dict)]
            page = [o for o in (channel_order(r) for r in rows) if o is not None]
            if page:
                yield page
            cursor = (listing.get("meta") or {}).get("nextCursor")
            if not rows or not isinstance(cursor, str) or not cursor:
                return
            params = inventory.cursor_params(cursor)

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        node = ship_node(channel)
        size = self._size(channel, inventory.PAGE_SIZE)
        async for page in inventory.pages(
            client, channel, size, before=_paced(pace, stats), sleep=self.sleep
        ):
            found = {
                sku: q
                for sku, nodes in page.items()
                if (q := inventory.listed_amount(nodes, node)) is not None
            }
            if found:
                yield found


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(1.0)
        stats.add(1.0)

    return before
