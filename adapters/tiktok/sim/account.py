"""TikTok Shop demo accounts for the local stack (``adapters.sim.account``): a ``TikTokSimulator``
with an app key, app secret, refresh token and shop cipher of its own, its channel, and the catalog
as Search Products imports it (SKU -> ``{"product_id", "sku_id", "warehouse_id", "listed"}``).

The simulator spends 10 requests/s, burst 10 (TikTok publishes no limit; the adapter's guess) and
takes up to 100 SKUs of one product per Update Inventory call, unless ``options`` say otherwise.
Each demo SKU is a product of its own. Sales are order status notifications signed with the app
secret; the gateway fetches each order from the simulator.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.sim.core import Faults
from adapters.tiktok.sim.app import TikTokSimulator
from engine.config import ChannelConfig


class TikTokAccount:
    kind = "tiktok"
    prefix = "tiktok"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.app_key = secrets.token_hex(8)
        self.app_secret = secrets.token_hex(20)
        self.refresh_token = "ROW_" + secrets.token_urlsafe(24)
        self.shop_id = str(random.randrange(7 * 10**18, 8 * 10**18))
        self.shop_cipher = "ROW_" + secrets.token_urlsafe(12)
        self.simulator = TikTokSimulator(
            app_key=self.app_key,
            app_secret=self.app_secret,
            refresh_token=self.refresh_token,
            shop_id=self.shop_id,
            shop_cipher=self.shop_cipher,
            first_order=random.randrange(10**17, 9 * 10**17),
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            token_url=f"{url}/api/v2/token/refresh",
            app_key=self.app_key,
            app_secret=self.app_secret,
            refresh_token=self.refresh_token,
            shop_cipher=self.shop_cipher,
            shop_id=self.shop_id,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        ids = self.simulator.seed(items, reset=True)
        listed = {str(item["sku"]): int(item["quantity"]) for item in items}
        return {sku: {**i, "listed": listed[sku]} for sku, i in ids.items()}


ACCOUNT = TikTokAccount
