"""eBay demo accounts for the local stack (``adapters.sim.account``): an ``EbaySimulator`` with an OAuth
keyset, refresh token and signing key of its own, its channel, and the catalog as the Inventory API
import reads it (SKU -> ``{"offers", "listings", "listed"}``).

The simulator spends eBay's daily quotas as buckets (Inventory API 2,000,000 calls a day, about 23/s;
Fulfillment 100,000, which the gateway's ``getOrder`` spends the first time a listing sells) and
takes 1 SKU per ``bulkUpdatePriceQuantity`` call, unless ``options`` say otherwise. Sales are
ORDER_CONFIRMATIONs signed with ECDSA; the gateway fetches the public key from the simulator.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig


class EbayAccount:
    kind = "ebay"
    prefix = "ebay"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.client_id = "skusync-" + secrets.token_hex(8)
        self.client_secret = secrets.token_urlsafe(24)
        self.refresh_token = "v^1.1#" + secrets.token_urlsafe(24)
        self.verification_token = secrets.token_urlsafe(32)
        self.simulator = EbaySimulator(
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            token_url=f"{url}/identity/v1/oauth2/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            verification_token=self.verification_token,
            endpoint_url=f"https://sync.example.com/webhooks/{self.channel_id}",
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each SKU an inventory item with one published offer; ``listed`` is what the import reads."""
        ids = self.simulator.seed(items, reset=True)
        listed = {str(item["sku"]): int(item["quantity"]) for item in items}
        return {sku: {**i, "listed": listed[sku]} for sku, i in ids.items()}


ACCOUNT = EbayAccount
