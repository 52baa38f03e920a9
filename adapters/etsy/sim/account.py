"""Etsy demo accounts for the local stack (``adapters.sim.account``): an ``EtsySimulator`` with a
keystring, refresh token and webhook secret of its own, its channel, and the catalog as the import
reads it (SKU -> ``{"listing_id", "product_id", "listed"}``). The simulator allows 10 requests/s and
10,000 a day (Etsy's default per-app limits); each write is a read and a write of one listing."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.etsy.sim.app import EtsySimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig


class EtsyAccount:
    kind = "etsy"
    prefix = "etsy"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.client_id = secrets.token_hex(12)
        self.refresh_token = secrets.token_urlsafe(24)
        self.webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.simulator = EtsySimulator(
            client_id=self.client_id,
            refresh_token=self.refresh_token,
            webhook_secret=self.webhook_secret,
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            token_url=f"{url}/v3/public/oauth/token",
            client_id=self.client_id,
            refresh_token=self.refresh_token,
            webhook_secret=self.webhook_secret,
            shop_id=self.simulator.shop.shop_id,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        ids = self.simulator.seed(items, reset=True)
        listed = {str(item["sku"]): int(item["quantity"]) for item in items}
        return {sku: {**i, "listed": listed[sku]} for sku, i in ids.items()}


ACCOUNT = EtsyAccount
