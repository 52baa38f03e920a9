"""Generic demo accounts for the local stack (``adapters.sim.account``): the README's worked example
(``adapters.generic.example``) served by a ``GenericSimulator`` with fresh secrets.

The channel and the simulator share the example's rate (5 requests/s, burst 5; ``options`` may
give the simulator another ``rate``, which the channel then takes too) and its 50 items a push.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from adapters.generic.example import example_channel
from adapters.generic.sim.app import GenericSimulator
from adapters.sim.core import Faults
from engine.config import ChannelConfig


class GenericAccount:
    kind = "generic"
    prefix = "gen"

    def __init__(self, channel_id: str, options: Mapping[str, Any], faults: Faults | None) -> None:
        self.channel_id = channel_id
        self.secret, self.token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        table = example_channel(channel_id, "http://127.0.0.1", self.secret, self.token)
        rate = options.get("rate") or (5.0, 5.0)
        self.rate = (float(rate[0]), float(rate[1]))
        self.simulator = GenericSimulator.from_channel(
            ChannelConfig.model_validate(table),
            faults=faults,
            first_order=random.randrange(10**6, 9 * 10**6),
            **{k: v for k, v in options.items() if k != "rate"},
            rate=self.rate,
        )

    def channel(self, url: str, extras: Mapping[str, Any]) -> ChannelConfig:
        table = example_channel(self.channel_id, url, self.secret, self.token)
        table["rate_limit"] = {"per_second": self.rate[0], "burst": self.rate[1]}
        return ChannelConfig.model_validate(table | dict(extras))

    def seed(self, channel: ChannelConfig, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Listings with ids ``L<n>``; the catalog as the import reads it (id and listed quantity)."""
        ids = self.simulator.seed(items, reset=True)
        quantities = {item["sku"]: item["quantity"] for item in items}
        return {sku: {"id": i["id"], "listed": quantities[sku]} for sku, i in ids.items()}


ACCOUNT = GenericAccount
