"""WooCommerce demo accounts for the local stack (``adapters.sim.account``): a ``WooCommerceSimulator``
with a fresh REST key pair and webhook secret, its channel, and the catalog as the import reads it."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from adapters.sim.core import Faults
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import ChannelConfig


class WooCommerceAccount:
    kind = "woocommerce"
    prefix = "woo"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.key, self.secret = "ck_" + secrets.token_hex(16), "cs_" + secrets.token_hex(16)
        self.webhook_secret = secrets.token_urlsafe(24)
        self.simulator = WooCommerceSimulator(
            consumer_key=self.key,
            consumer_secret=self.secret,
            webhook_secret=self.webhook_secret,
            source_url=f"https://{channel_id}.example/",
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            webhook_secret=self.webhook_secret,
            consumer_key=self.key,
            consumer_secret=self.secret,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The simulator's product and variation ids are the import's form already."""
        ids: dict[str, dict[str, Any]] = self.simulator.seed(items, reset=True)
        return ids


ACCOUNT = WooCommerceAccount
