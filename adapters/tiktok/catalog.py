"""Reading TikTok Shop's catalog: Search Products page by page, and Inventory Search for quantities.

``POST /product/202309/products/search?page_size=N[&page_token=T]`` with ``{"status": "ACTIVATE"}``
answers ``data {products[{id, status, skus[{id, seller_sku, inventory[{warehouse_id, quantity}]}]}],
next_page_token, total_count}`` (page_size 1..100; EcomPHP/tiktokshop-php src/Resources/Product.php
``searchProducts``: paging in the query, filters in the body). ``POST
/product/202309/inventory/search`` with ``{"product_ids": [...]}`` answers ``data {inventory
[{product_id, skus[{id, seller_sku, total_available_quantity, warehouse_inventory[{warehouse_id,
available_quantity}]}]}]}`` (``inventorySearch``; MARKETPLACES.md names it for listed quantities).
A SKU's ids are ``{"product_id", "sku_id", "warehouse_id"}`` (its first warehouse).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from adapters.tiktok import api
from engine.config import ChannelConfig

PRODUCTS = "/product/202309/products/search"
INVENTORY = "/product/202309/inventory/search"
PAGE_SIZE = 50
ACTIVE = {"status": "ACTIVATE"}


def sku_ids(product: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """seller SKU -> ids for one product's SKUs (SKUs without a seller SKU cannot be synced: left out)."""
    out: dict[str, dict[str, Any]] = {}
    for sku in product.get("skus") or []:
        if not isinstance(sku, dict) or not isinstance(sku.get("seller_sku"), str) or not sku["seller_sku"]:
            continue
        stock = [w for w in sku.get("inventory") or [] if isinstance(w, dict)]
        out[sku["seller_sku"]] = {
            "product_id": str(product.get("id")),
            "sku_id": str(sku.get("id")),
            "warehouse_id": str(stock[0].get("warehouse_id")) if stock else None,
            "listed": sum(w["quantity"] for w in stock if type(w.get("quantity")) is int),
        }
    return out


async def products(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    page_size: int,
    *,
    before: api.Before | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of active products, following ``next_page_token`` until it is empty."""
    token = ""
    while True:
        query: dict[str, Any] = {"page_size": page_size}
        if token:
            query["page_token"] = token
        data = await api.call(client, channel, "POST", PRODUCTS, query, ACTIVE, before=before, sleep=sleep)
        found = [p for p in data.get("products") or [] if isinstance(p, dict)]
        if found:
            yield found
        token = str(data.get("next_page_token") or "")
        if not token or not found:
            return


async def pages(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    page_size: int,
    *,
    before: api.Before | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Pages of SKU -> ids (with ``listed``, what the product search shows)."""
    async for found in products(client, channel, page_size, before=before, sleep=sleep):
        page: dict[str, dict[str, Any]] = {}
        for product in found:
            page.update(sku_ids(product))
        if page:
            yield page


def available(sku: dict[str, Any], warehouse_id: str | None) -> int | None:
    """What buyers can order of one SKU: its ``warehouse_id`` row when given, else the total."""
    if warehouse_id:
        rows = [w for w in sku.get("warehouse_inventory") or [] if isinstance(w, dict)]
        mine = [w.get("available_quantity") for w in rows if str(w.get("warehouse_id")) == warehouse_id]
        return mine[0] if mine and type(mine[0]) is int else None
    total = sku.get("total_available_quantity")
    return total if type(total) is int else None


async def listed(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    page_size: int,
    *,
    before: api.Before | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[dict[str, int]]:
    """Pages of SKU -> available quantity: each product page's ids read through Inventory Search."""
    warehouse_id = getattr(channel, "warehouse_id", None)
    async for found in products(client, channel, page_size, before=before, sleep=sleep):
        ids = [str(p.get("id")) for p in found]
        data = await api.call(
            client, channel, "POST", INVENTORY, None, {"product_ids": ids}, before=before, sleep=sleep
        )
        page: dict[str, int] = {}
        for row in data.get("inventory") or []:
            for sku in (row.get("skus") or []) if isinstance(row, dict) else []:
                seller_sku = sku.get("seller_sku") if isinstance(sku, dict) else None
                quantity = (
                    available(sku, warehouse_id) if isinstance(seller_sku, str) and seller_sku else None
                )
                if quantity is not None:
                    page[str(seller_sku)] = quantity
        if page:
            yield page
