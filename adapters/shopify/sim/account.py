"""Shopify demo accounts for the local stack (``adapters.sim.account``): a ``ShopifySimulator`` with a
fresh Admin API token and webhook secret, its channel, and the catalog as the GraphQL import reads it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from adapters.shopify.outbound import gid
from adapters.shopify.sim.app import ShopifySimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig


class ShopifyAccount:
    kind = "shopify"
    prefix = "shop"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.token = "shpat_" + secrets.token_hex(16)
        self.webhook_secret = secrets.token_urlsafe(24)
        self.simulator = ShopifySimulator(
            access_token=self.token,
            webhook_secret=self.webhook_secret,
            shop_domain=f"{channel_id}.myshopify.com",
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            webhook_secret=self.webhook_secret,
            access_token=self.token,
            location_id=self.simulator.location_id,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """GraphQL ids, as the import reads them: the variant's, the inventory item's and the location's."""
        ids = self.simulator.seed(items, reset=True)
        location = gid("Location", self.simulator.location_id)
        return {
            sku: {
                "inventory_item_id": i["inventory_item_id"],
                "variant_id": gid("ProductVariant", i["variant_id"]),
                "location_id": location,
            }
            for sku, i in ids.items()
        }


ACCOUNT = ShopifyAccount
