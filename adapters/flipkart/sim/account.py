"""Flipkart demo accounts for the local stack (``adapters.sim.account``): a ``FlipkartSimulator``
with an application id and secret of its own, its channel (``endpoint_url`` the URL its
notifications are signed for), and the catalog as the import reads it (SKU -> ``{"product_id",
"location_id"}``). Pushes are held to 5 calls/s, burst 5 (the adapter's guess) unless ``options``
say otherwise (``rates``)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.flipkart.sim.app import FlipkartSimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig


class FlipkartAccount:
    kind = "flipkart"
    prefix = "fk"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.app_id = "fk-" + secrets.token_hex(6)
        self.app_secret = secrets.token_urlsafe(24)
        self.endpoint_url = f"https://sync.example.com/webhooks/{channel_id}"
        self.simulator = FlipkartSimulator(
            app_id=self.app_id,
            app_secret=self.app_secret,
            notify_url=self.endpoint_url,
            location_id="LOC" + secrets.token_hex(8),
            first_shipment=random.randrange(10**8, 9 * 10**8),
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            token_url=f"{url}/oauth-service/oauth/token",
            app_id=self.app_id,
            app_secret=self.app_secret,
            endpoint_url=self.endpoint_url,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return self.simulator.seed(items, reset=True)


ACCOUNT = FlipkartAccount
