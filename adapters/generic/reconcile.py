"""Generic read side for reconciliation: the ``orders`` table's orders since a time, the catalog's quantities.

Orders: ``GET <orders.url>?<since_param>=<since>`` (``since_format``: ISO 8601 UTC, unix seconds or
ms), paged as configured, each item read with the ``inbound`` paths as a versioned document
(``adapters.generic.orders.channel_order``). Without an ``orders`` table there is no backfill: the
read yields nothing. Listed quantities: the ``catalog`` read's ``quantity`` per SKU (none without it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from adapters.generic import reads
from adapters.generic.inbound import inbound_spec
from adapters.generic.keys import OrdersSpec, TimeFormat
from adapters.generic.orders import channel_order
from adapters.generic.outbound import catalog_entries, catalog_spec, push_spec
from adapters.reading import Pace, ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder


def since_value(since: float, fmt: TimeFormat) -> str:
    if fmt == "unix_s":
        return str(int(since))
    if fmt == "unix_ms":
        return str(int(since * 1000))
    return datetime.fromtimestamp(since, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def orders_spec(channel: ChannelConfig) -> OrdersSpec | None:
    spec = getattr(channel, "orders", None)
    return OrdersSpec.model_validate(spec) if isinstance(spec, dict) else spec


@dataclass
class GenericReconcile:
    kind: str = "generic"
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        spec, inbound = orders_spec(channel), inbound_spec(channel)
        if spec is None or inbound is None:
            return
        params = {spec.since_param: since_value(since, spec.since_format)}
        push = push_spec(channel)
        async for items in reads.pages(client, channel, spec, push, params, self.sleep, pace, stats):
            page = [o for o in (channel_order(inbound, item) for item in items) if o is not None]
            if page:
                yield page

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        spec = catalog_spec(channel)
        if spec is None or spec.quantity is None:
            return
        async for items in reads.pages(
            client, channel, spec, push_spec(channel), {}, self.sleep, pace, stats
        ):
            found = {
                sku: ids["listed"] for sku, ids in catalog_entries(spec, items).items() if "listed" in ids
            }
            if found:
                yield found
