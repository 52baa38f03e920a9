"""Shopify read side for reconciliation: orders and quantities, both from the GraphQL Admin API.

Orders: the ``orders`` connection (``updated_at`` filter, ``sortKey: UPDATED_AT``, cursor paging,
cost-paced), read into the same versioned documents the webhooks bring (``adapters.shopify.
orders_read``; REST ``orders.json`` is legacy and closed to new public apps). Channel extras:
``reconcile_page_size`` (orders per page, cut to fit Shopify's 1,000-point query limit),
``edit_removals_restock`` (``adapters.shopify.order_doc``).

Quantities, per location: ``productVariants(first: n, after: cursor) { sku inventoryItem {
inventoryLevel(locationId: <location_id>) { quantities(names: ["available"]) { name quantity } } }
}``: the ``available`` quantity at the channel's ``location_id``, the one location our pushes set
(MARKETPLACES.md, Shopify, "Reconciliation reads"). Never the variant's ``inventoryQuantity``: it
sums every location, so a shop with a second location would look over-listed and be "corrected"
down to what master says for one location. A variant not stocked at the location
(``inventoryLevel`` null) is left out (not managed there). Paced at the page's requested cost
(``2 + n`` points, an undercount with the nested level: the shop's ``throttleStatus`` paces the
rest), retried after a ``Throttled`` answer for as long as the bucket needs to refill. Channel
extras: ``location_id`` (required), ``api_version``, ``reconcile_page_size`` (250).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from adapters.base import PushResult
from adapters.http_retry import backoff, retry_after
from adapters.reading import Pace, ReadError, ReadStats
from adapters.shopify.admin import admin_api
from adapters.shopify.answers import is_throttled, read_budget, refill_wait
from adapters.shopify.inbound import flag
from adapters.shopify.orders_read import ShopifyOrderReader
from adapters.shopify.outbound import DEFAULT_API_VERSION, available_of, gid
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

QUANTITIES = """query Quantities($first: Int!, $after: String, $location: ID!) {
  productVariants(first: $first, after: $after) {
    edges { node { sku inventoryItem { inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@dataclass
class ShopifyReconcile:
    """The Shopify ``ReconcileAdapter`` (see the module docstring)."""

    kind: str = "shopify"
    api_version: str = DEFAULT_API_VERSION
    page_size: int = 250
    max_attempts: int = 20
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def _base(self, channel: ChannelConfig) -> tuple[str, dict[str, str]]:
        return admin_api(channel, self.api_version)

    def _first(self, channel: ChannelConfig) -> int:
        return max(1, min(250, int(getattr(channel, "reconcile_page_size", self.page_size))))

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        base, headers = self._base(channel)
        reader = ShopifyOrderReader(max_attempts=self.max_attempts, sleep=self.sleep)
        wanted = int(getattr(channel, "reconcile_page_size", reader.first))
        removals_restock = flag(channel, "edit_removals_restock", True)
        async for page in reader.orders_since(
            client, f"{base}/graphql.json", headers, since, wanted, removals_restock, pace, stats
        ):
            yield page

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        location = getattr(channel, "location_id", None)
        if location is None:
            raise ReadError(f"channel {channel.id}: no location_id, so no listed quantity to compare")
        base, headers = self._base(channel)
        first, after = self._first(channel), None
        while True:
            connection = await self._variants(
                client, f"{base}/graphql.json", headers, first, after, gid("Location", location), pace, stats
            )
            page: dict[str, int] = {}
            for edge in connection.get("edges") or []:
                node = edge.get("node") or {}
                sku, qty = (
                    node.get("sku"),
                    available_of((node.get("inventoryItem") or {}).get("inventoryLevel")),
                )
                if sku and qty is not None and sku not in page:
                    page[sku] = qty
            yield page
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    async def _variants(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        first: int,
        after: str | None,
        location: str,
        pace: Pace,
        stats: ReadStats,
    ) -> dict[str, Any]:
        variables = {"first": first, "after": after, "location": location}
        content = orjson.dumps({"query": QUANTITIES, "variables": variables})
        cost = 2.0 + first
        await pace(cost)  # once: a throttled retry waits on the shop's own figure instead
        for attempt in range(self.max_attempts):
            try:  # a read: safe to send again, e.g. after the shop closed a kept-alive connection
                response = await client.post(url, content=content, headers=headers)
            except httpx.TransportError:
                await self.sleep(backoff(attempt))
                continue
            body = orjson.loads(response.content) if response.content else {}
            probe = PushResult()
            read_budget(probe, body)
            actual = ((body.get("extensions") or {}).get("cost") or {}).get("actualQueryCost")
            stats.add(float(actual) if isinstance(actual, int | float) else 0.0)
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if response.status_code == 429 or any(is_throttled(e) for e in errors):
                await self.sleep(retry_after(response) or refill_wait(probe, cost))
                continue
            if response.status_code >= 500:
                await self.sleep(backoff(attempt))
                continue
            connection = (body.get("data") or {}).get("productVariants")
            if response.status_code != 200 or errors or not isinstance(connection, dict):
                raise ReadError(f"Shopify answered HTTP {response.status_code}: {response.text[:200]}")
            return connection
        raise ReadError(f"gave up reading Shopify quantities after {self.max_attempts} attempts")
