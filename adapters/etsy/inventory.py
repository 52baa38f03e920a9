"""Reading and rewriting a listing's inventory, the shop's listings page by page, and the GET helper.

``GET /v3/application/listings/{listing_id}/inventory`` answers ``{products[{product_id, sku,
is_deleted, property_values[{property_id, property_name, scale_id, scale_name, value_ids, values}],
offerings[{offering_id, price {amount, divisor, currency_code}, quantity, is_enabled, is_deleted,
readiness_state_id}]}], price_on_property, quantity_on_property, sku_on_property,
readiness_state_on_property}``. ``PUT`` of the same path REPLACES the whole inventory, so the
write carries every product back: property values, price (a decimal number in the write, a money
object in the read), ``is_enabled``, ``readiness_state_id`` (required for physical listings) and the
``*_on_property`` arrays unchanged, only our SKUs' quantities changed (MARKETPLACES.md, Etsy;
developers.etsy.com "Listing Inventory" tutorial and updateListingInventory reference).
``GET /v3/application/shops/{shop_id}/listings?state=active&limit&offset`` (``{count, results}``,
limit 1..100) pages the catalog. Every request costs one unit (Etsy's limits count calls).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from adapters.authorized_get import Before, get_object, nothing
from adapters.etsy import auth
from engine.config import ChannelConfig

ON_PROPERTY = ("price_on_property", "quantity_on_property", "sku_on_property", "readiness_state_on_property")
PROPERTY_FIELDS = ("property_id", "value_ids", "scale_id", "property_name", "values")


def inventory_path(listing_id: int | str) -> str:
    return f"/v3/application/listings/{listing_id}/inventory"


def listings_path(shop_id: int) -> str:
    return f"/v3/application/shops/{shop_id}/listings"


def price_number(price: Any) -> float:
    """A read's money object ``{amount, divisor}`` as the write's decimal number."""
    if isinstance(price, dict):
        amount, divisor = price.get("amount"), price.get("divisor") or 1
        if type(amount) is int and type(divisor) is int and divisor > 0:
            return amount / divisor
    if isinstance(price, int | float) and not isinstance(price, bool):
        return float(price)
    raise ValueError(f"offering price {price!r} is not a money object")


def live(rows: Any) -> list[dict[str, Any]]:
    return [r for r in rows or [] if isinstance(r, dict) and not r.get("is_deleted")]


def listed(inventory: dict[str, Any]) -> dict[str, int]:
    """SKU -> quantity of its (first live) offering, for every product with a SKU."""
    out: dict[str, int] = {}
    for product in live(inventory.get("products")):
        offers = live(product.get("offerings"))
        sku = product.get("sku")
        if isinstance(sku, str) and sku and offers and type(offers[0].get("quantity")) is int:
            out[sku] = offers[0]["quantity"]
    return out


def put_body(inventory: dict[str, Any], quantities: dict[str, int]) -> dict[str, Any]:
    """The write restating ``inventory`` with ``quantities`` (SKU -> N) set; ValueError if a SKU
    is not a product of it (the listing changed since the catalog import)."""
    missing = set(quantities) - set(listed(inventory))
    if missing:
        raise ValueError(f"SKUs no longer in the listing's inventory: {sorted(missing)[:5]}")
    products = []
    for product in live(inventory.get("products")):
        sku = product.get("sku")
        offerings = []
        for offer in live(product.get("offerings")):
            written = {
                "price": price_number(offer.get("price")),
                "quantity": offer.get("quantity"),
                "is_enabled": bool(offer.get("is_enabled", True)),
            }
            if offer.get("readiness_state_id") is not None:
                written["readiness_state_id"] = offer["readiness_state_id"]
            if sku in quantities:
                written["quantity"] = quantities[sku]
            offerings.append(written)
        values = [{k: v[k] for k in PROPERTY_FIELDS if k in v} for v in live(product.get("property_values"))]
        products.append({"sku": sku or "", "property_values": values, "offerings": offerings})
    body: dict[str, Any] = {"products": products}
    for name in ON_PROPERTY:
        if isinstance(inventory.get(name), list):
            body[name] = list(inventory[name])
    return body


def others(inventory: dict[str, Any]) -> dict[str, Any]:
    """Everything but quantities, as written back: two reads differing here saw a seller's edit."""
    return put_body(inventory, dict.fromkeys(listed(inventory), 0))


async def etsy_get(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """GET ``base_url + path`` as the seller until 200; its JSON object. 401 fetches a new token once,
    429 and 5xx wait ``retry-after`` (else a backoff). Errors show no query."""
    url = f"{channel.base_url.rstrip('/')}{path}"
    return await get_object(
        client, auth.tokens_for(channel), url, params or {}, lambda token: auth.headers(channel, token),
        label=f"Etsy {path}", before=before, sleep=sleep, max_attempts=max_attempts,
    )  # fmt: skip


async def pages(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    shop_id: int,
    page_size: int,
    *,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Pages of SKU -> ``{"listing_id", "product_id", "listed"}`` over the shop's active listings."""
    offset = 0
    while True:
        params = {"state": "active", "limit": page_size, "offset": offset}
        body = await etsy_get(client, channel, listings_path(shop_id), params, before=before, sleep=sleep)
        rows = [
            r for r in body.get("results") or [] if isinstance(r, dict) and type(r.get("listing_id")) is int
        ]
        page: dict[str, dict[str, Any]] = {}
        for row in rows:
            inventory = await etsy_get(
                client, channel, inventory_path(row["listing_id"]), before=before, sleep=sleep
            )
            quantities = listed(inventory)
            for product in live(inventory.get("products")):
                sku = product.get("sku")
                if isinstance(sku, str) and sku in quantities:
                    page[sku] = {
                        "listing_id": row["listing_id"],
                        "product_id": product.get("product_id"),
                        "listed": quantities[sku],
                    }
        if page:
            yield page
        offset += page_size
        count = body.get("count")
        if not rows or (type(count) is int and offset >= count):
            return
