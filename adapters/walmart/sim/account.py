"""Walmart demo accounts for the local stack (``adapters.sim.account``): a ``WalmartSimulator`` with
client credentials and an HMAC event subscription of its own, its channel, and the catalog as the
import reads it (SKU -> ``{"nodes"}``). Sales are notified as ``PO_CREATED``; the simulator's
rates are ``sim.app.RATES`` unless ``options`` say otherwise."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.sim.core import Faults
from adapters.walmart.sim.app import WalmartSimulator
from adapters.walmart.sim.orders import Subscription
from engine.config import ChannelConfig

HEADER = "WM_NOTIFICATION.SIGNATURE"


class WalmartAccount:
    kind = "walmart"
    prefix = "wmt"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_urlsafe(32)
        self.simulator = WalmartSimulator(
            client_id=self.client_id,
            client_secret=self.client_secret,
            subscription=Subscription("hmac", HEADER, self.client_secret),
            first_order=random.randrange(10**6, 9 * 10**9),
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            webhook_secret=self.client_secret,
            auth_method="hmac",
            auth_header_name=HEADER,
            client_id=self.client_id,
            client_secret=self.client_secret,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return self.simulator.seed(items, reset=True)


ACCOUNT = WalmartAccount
