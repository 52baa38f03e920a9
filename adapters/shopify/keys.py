"""Keys of ``kind = "shopify"`` channels, typed; registered with the engine's config on import."""

from __future__ import annotations

from pydantic import Field

from engine.channel_keys import ChannelKeys, register


class ShopifyKeys(ChannelKeys):
    """Keys of ``kind = "shopify"`` channels (``adapters.shopify``)."""

    api_version: str | None = Field(None, pattern=r"^(\d{4}-(01|04|07|10)|unstable)$")
    """Admin API version to pin, e.g. ``"2026-10"`` (a quoted string in TOML). None: the
    adapter's default, the newest stable version in its table; a version Shopify no longer serves
    is named in a warning at start-up (``adapters.shopify.outbound``)."""
    location_id: str | int | None = None
    """The location whose ``available`` quantity is pushed and reconciled (a number or a gid)."""
    max_batch: int | None = Field(None, ge=1, le=250)
    """Quantities per ``inventorySetQuantities`` call (250, Shopify's input cap)."""
    catalog_page_size: int | None = Field(None, ge=1, le=250)
    reconcile_page_size: int | None = Field(None, ge=1, le=250)
    """Variants or orders per page when reading (250)."""
    mutation_cost_per_quantity: float | None = Field(None, ge=0)
    """Points budgeted per quantity of a mutation, beyond its 10 (0)."""
    edit_removals_restock: bool | None = None
    """Whether units removed by an order edit went back to stock (true; ``adapters.shopify.order_doc``)."""


register("shopify", ShopifyKeys)
