"""Amazon read side for reconciliation: Orders API v2026-01-01 ``searchOrders`` and listed quantities.

Orders: ``GET /orders/2026-01-01/orders?lastUpdatedAfter=<ISO>&marketplaceIds=<id>
&fulfilledBy=MERCHANT&includedData=FULFILLMENT&maxResultsPerPage=100`` then ``paginationToken``
from ``pagination.nextToken`` (exactly one of ``createdAfter`` / ``lastUpdatedAfter``; v0
``getOrders`` is deprecated). 0.0056 requests/s, burst 20: twenty pages at once, then one every
three minutes, so a long backlog takes reconciliation's deadline (the bucket adopts
``x-amzn-RateLimit-Limit`` when Amazon grants more). Each order maps as ``adapters.amazon.orders``.
``reconcile_page_size`` sets both reads' pages (at most 100 orders, 20 listings items a page).

Quantities: ``searchListingsItems`` with ``includedData=fulfillmentAvailability`` (20 a page, past
the 1000-item cap: ``adapters.amazon.listings``), the ``DEFAULT`` channel's quantity per SKU.
SP-API's buckets are per operation, not the patches' budget, so every read waits on its own
operation's bucket (``adapters.amazon.sp_read``) and asks the caller's ``pace`` for no units.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.amazon import listings
from adapters.amazon.lwa import tokens_for
from adapters.amazon.orders import channel_order
from adapters.amazon.sp_read import bucket, sp_get
from adapters.reading import Pace, ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

ORDERS = "/orders/2026-01-01/orders"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class AmazonReconcile:
    """The Amazon ``ReconcileAdapter`` (see the module docstring)."""

    kind: str = "amazon"
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        seller, market = listings.seller_and_marketplace(channel)
        url = f"{channel.base_url.rstrip('/')}{ORDERS}"
        base: list[tuple[str, str | int | float | bool | None]] = [
            ("lastUpdatedAfter", iso(since)),
            ("marketplaceIds", market),
            ("fulfilledBy", "MERCHANT"),
            ("includedData", "FULFILLMENT"),
            ("maxResultsPerPage", str(_page_size(channel, 100))),
        ]
        token: str | None = None
        while True:
            params = base + ([("paginationToken", token)] if token else [])
            body = await sp_get(
                client,
                tokens_for(channel),
                bucket(seller, "searchOrders"),
                url,
                params,
                sleep=self.sleep,
                before=_paced(pace, stats),
            )
            page = [o for o in (channel_order(r) for r in _objects(body.get("orders"))) if o is not None]
            if page:
                yield page
            token = (body.get("pagination") or {}).get("nextToken")
            if not token:
                return

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        tokens = tokens_for(channel)
        pages = listings.search(
            client,
            channel,
            tokens,
            "fulfillmentAvailability",
            self.sleep,
            _paced(pace, stats),
            page_size=_page_size(channel, listings.PAGE_SIZE),
        )
        async for items in pages:
            page = {i["sku"]: q for i in items if (q := listings.default_quantity(i)) is not None}
            if page:
                yield page


def _page_size(channel: ChannelConfig, most: int) -> int:
    """The channel's ``reconcile_page_size``, at most ``most`` (the operation's maximum)."""
    return max(1, min(most, int(getattr(channel, "reconcile_page_size", None) or most)))


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(0.0)  # SP-API reads use their own operations' buckets, not the patches' budget
        stats.add(1.0)

    return before


def _objects(rows: Any) -> list[dict[str, Any]]:
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
