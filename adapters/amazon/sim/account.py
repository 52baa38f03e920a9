"""Amazon demo accounts for the local stack (``adapters.sim.account``): an ``AmazonSimulator`` with a
seller id, LWA credentials and relay secret of its own, its channel, and the catalog as
``searchListingsItems`` imports it (SKU -> ``{"product_type"}``).

The simulator enforces SP-API's published usage plans (``patchListingsItem``: 5 requests/s, burst 5)
unless ``options`` say otherwise (``rates``); sales are notified as ORDER_CHANGE through the relay.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.amazon.sim.app import AmazonSimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig

MARKETPLACE = "ATVPDKIKX0DER"


class AmazonAccount:
    kind = "amazon"
    prefix = "amz"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        # A seller of its own: SP-API read budgets are per seller and process-wide (``sp_read``).
        self.seller_id = "A" + secrets.token_hex(6).upper()
        self.client_id = "amzn1.application-oa2-client." + secrets.token_hex(8)
        self.client_secret = secrets.token_urlsafe(24)
        self.refresh_token = "Atzr|" + secrets.token_urlsafe(24)
        self.relay_secret = secrets.token_urlsafe(24)
        self.simulator = AmazonSimulator(
            seller_id=self.seller_id,
            marketplace_id=MARKETPLACE,
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            relay_secret=self.relay_secret,
            first_order=random.randrange(10**6, 9 * 10**6),
            faults=faults,
            **options,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        return ChannelConfig(
            id=self.channel_id,
            kind=self.kind,
            base_url=url,
            webhook_secret=self.relay_secret,
            token_url=f"{url}/auth/o2/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            seller_id=self.seller_id,
            marketplace_id=MARKETPLACE,
            **extras,
        )

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Listings of the simulator's default productType; the import reads it back per SKU."""
        ids = self.simulator.seed(items, reset=True)
        return {sku: {"product_type": i["product_type"]} for sku, i in ids.items()}


ACCOUNT = AmazonAccount
