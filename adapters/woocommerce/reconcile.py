"""WooCommerce read side for reconciliation: REST v3 orders and stock quantities, page by page.

Orders: ``GET /wp-json/wc/v3/orders?modified_after=<UTC, no offset>&dates_are_gmt=true&orderby=id&
order=asc&per_page=100&page=N`` (ascending ids keep pages stable while new orders arrive). Without
``dates_are_gmt`` core compares ``modified_after`` with the site's local ``post_modified``
(``WC_REST_CRUD_Controller::prepare_objects_query``), so a UTC time read as local time misses the
hours between them on every store west of UTC; and the time is sent without an offset because
``WP_Date_Query::build_mysql_datetime`` turns an offset into site time before comparing it with the
GMT column. Each listed order becomes a versioned document exactly as its webhook does
(``adapters.woocommerce.order_stock``: what core holds out of stock per line, version
``date_modified_gmt`` in ms): pending holds nothing, processing / on-hold / completed what core
reduced less restocking refunds, cancelled gives everything back, failed and refunded restate what
the ``_reduced_stock`` meta shows (an order showing none is skipped: nothing to say). The listed
order carries everything the mapping needs (the meta is on every line item), so the refunds
endpoint is never read (``order_stock`` explains why it would add nothing for stock).

Quantities: ``GET /products`` pages, and ``/products/{id}/variations`` pages for variable products:
``stock_quantity`` of products managing stock, of variations managing their own, and of variations
whose parent manages it (``manage_stock: "parent"``; core shows the parent's count there), each under
the SKU the catalog import maps to that stock (``outbound.catalog_entries``). Every request costs one
unit (budgets are requests per second); 429 and 5xx wait (``Retry-After`` when given) and retry.
Extras: ``reconcile_page_size`` (100, WordPress's cap), plus the credentials ``outbound`` reads
(``query_string_auth`` included).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.base import AdapterError
from adapters.reading import Pace, ReadError, ReadStats, epoch, get_paced
from adapters.woocommerce.order_stock import order_doc
from adapters.woocommerce.outbound import API, catalog_entries, credentials
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


def modified_after(since: float) -> dict[str, str]:
    """The order filter for "modified after ``since``" (unix seconds): UTC without an offset, as GMT."""
    after = datetime.fromtimestamp(since, UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"modified_after": after, "dates_are_gmt": "true"}


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
        params = {**modified_after(since), "orderby": "id", "order": "asc"}
        async for rows in self._pages(client, channel, "/orders", params, pace, stats):
            page = [o for o in (channel_order(row) for row in rows) if o is not None]
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
                    variations = [
                        v async for rows in self._pages(client, channel, path, {}, pace, stats) for v in rows
                    ]
                    page.update(variable_stock(product, variations))
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
        headers, auth_params = credentials(channel)
        return await get_paced(
            client,
            url,
            params={**params, **auth_params},
            headers=headers,
            cost=1.0,  # budgets are requests per second
            pace=pace,
            stats=stats,
            sleep=self.sleep,
            max_attempts=self.max_attempts,
            what="WooCommerce",
        )


def variable_stock(product: dict[str, Any], variations: list[dict[str, Any]]) -> dict[str, int]:
    """SKU -> listed count for a variable product, under the SKUs the catalog import maps its stock to."""
    out: dict[str, int] = {}
    parent_qty = product.get("stock_quantity")
    by_id = {v.get("id"): v for v in variations}
    for sku, ids in catalog_entries(product, variations):
        row = by_id.get(ids.get("variation_id")) if "variation_id" in ids else None
        if row is None:  # the parent's stock (a variation managed by it shows the same count)
            qty = parent_qty
        elif row.get("manage_stock") is True:
            qty = row.get("stock_quantity")
        else:
            continue  # no stock managed yet: nothing listed to compare
        if isinstance(qty, int) and not isinstance(qty, bool):
            out.setdefault(sku, qty)
    return out


def _managed(row: dict[str, Any]) -> bool:
    qty = row.get("stock_quantity")
    return bool(row.get("sku")) and row.get("manage_stock") is True and isinstance(qty, int)


def _stock(row: dict[str, Any]) -> tuple[str, int]:
    return str(row["sku"]), int(row["stock_quantity"])


def channel_order(row: dict[str, Any]) -> ChannelOrder | None:
    """A listed order as a versioned document; None when it is malformed or says nothing about stock.

    ``lines`` are ``(sku, units core holds)``: every SKU of a pending or cancelled order (0), else the
    SKUs whose holding the order shows; a cancelled order is also ``cancelled`` (restocking).
    """
    try:
        doc = order_doc(row)
    except AdapterError:
        return None
    if doc.status == "cancelled" or doc.status == "pending":
        lines = tuple((sku, 0) for sku in doc.skus)
    else:
        lines = tuple(doc.held.items())
    if not lines:
        return None
    at = epoch(row.get("date_created_gmt")) or doc.at
    return ChannelOrder(
        doc.order_id, lines, at, doc.at, doc.status == "cancelled", version=doc.version, restock=True
    )
