"""WooCommerce read side for reconciliation: REST v3 orders and stock quantities, page by page.

Orders: ``GET /wp-json/wc/v3/orders?modified_after=<iso>&orderby=id&order=asc&per_page=100&page=N``
(ascending ids keep pages stable while new orders arrive). Statuses map as in ``inbound``: pending,
processing, on-hold, completed are sales; cancelled, refunded, failed are sales then cancels (the
ledger nets them out, or returns the units of a sale it had counted); others are skipped.
Quantities: ``GET /products`` pages, and ``/products/{id}/variations`` pages for variable products,
reading ``stock_quantity`` where ``manage_stock`` is true. Every request costs one unit (budgets are
requests per second); 429 and 5xx wait (``Retry-After`` when given) and retry. Extras:
``reconcile_page_size`` (100, WordPress's cap), plus the credentials ``outbound`` reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.reading import Pace, ReadError, ReadStats, epoch, get_paced, order_lines
from adapters.woocommerce.inbound import CANCELLED_STATUSES, PLACED_STATUSES
from adapters.woocommerce.outbound import API, auth_header
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


@dataclass
class WooCommerceReconcile:
    """The WooCommerce ``ReconcileAdapter`` (see the module docstring)."""

    kind: str = "woocommerce"
    page_size: int = 100
    max_attempts: int = 20
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _per_page(self, channel: ChannelConfig) -> int:
        return max(1, min(100, int(getattr(channel, "reconcile_page_size", self.page_size))))

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        after = datetime.fromtimestamp(since, UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        params = {"modified_after": after, "orderby": "id", "order": "asc"}
        async for rows in self._pages(client, channel, "/orders", params, pace, stats):
            page = [o for o in (_order(row) for row in rows) if o is not None]
            if page:
                yield page

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        async for products in self._pages(client, channel, "/products", {}, pace, stats):
            page: dict[str, int] = {}
            for product in products:
                if product.get("type") == "variable":
                    path = f"/products/{product['id']}/variations"
                    async for variations in self._pages(client, channel, path, {}, pace, stats):
                        page.update(_stock(v) for v in variations if _managed(v))
                elif _managed(product):
                    page.update([_stock(product)])
            yield page

    async def _pages(
        self,
        client: httpx.AsyncClient,
        channel: ChannelConfig,
        path: str,
        params: dict[str, Any],
        pace: Pace,
        stats: ReadStats,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        url = f"{channel.base_url.rstrip('/')}{API}{path}"
        per_page, page, pages = self._per_page(channel), 1, 1
        while page <= pages:
            response = await self._get(
                client, channel, url, {**params, "per_page": per_page, "page": page}, pace, stats
            )
            rows = orjson.loads(response.content)
            if not isinstance(rows, list):
                raise ReadError(f"expected a JSON list from {path}, got {response.text[:200]}")
            full = len(rows) == per_page
            pages = int(response.headers.get("x-wp-totalpages", page + 1 if full else page))
            yield [r for r in rows if isinstance(r, dict)]
            if not rows:
                return
            page += 1

    async def _get(
        self,
        client: httpx.AsyncClient,
        channel: ChannelConfig,
        url: str,
        params: dict[str, Any],
        pace: Pace,
        stats: ReadStats,
    ) -> httpx.Response:
        return await get_paced(
            client,
            url,
            params=params,
            headers=auth_header(channel),
            cost=1.0,  # budgets are requests per second
            pace=pace,
            stats=stats,
            sleep=self.sleep,
            max_attempts=self.max_attempts,
            what="WooCommerce",
        )


def _managed(row: dict[str, Any]) -> bool:
    qty = row.get("stock_quantity")
    return bool(row.get("sku")) and row.get("manage_stock") is True and isinstance(qty, int)


def _stock(row: dict[str, Any]) -> tuple[str, int]:
    return str(row["sku"]), int(row["stock_quantity"])


def _order(row: dict[str, Any]) -> ChannelOrder | None:
    status = row.get("status")
    if row.get("id") is None or status not in (*PLACED_STATUSES, *CANCELLED_STATUSES):
        return None
    at = epoch(row.get("date_created_gmt")) or epoch(row.get("date_created")) or 0.0
    modified = epoch(row.get("date_modified_gmt")) or epoch(row.get("date_modified")) or at
    return ChannelOrder(
        str(row["id"]), order_lines(row.get("line_items")), at, modified, status in CANCELLED_STATUSES
    )
