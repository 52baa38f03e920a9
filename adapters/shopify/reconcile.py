"""Shopify read side for reconciliation: orders from REST ``orders.json``, quantities from GraphQL.

Orders: ``GET /admin/api/{version}/orders.json?status=any&updated_at_min=<iso>&since_id=<id>&limit=250``,
paged by ``since_id`` (ascending ids). REST is behind its own request bucket (40, 2/s on Standard):
each call is paced at cost 0 on the GraphQL budget and a 429 waits its ``Retry-After``. The GraphQL
``orders(query: "updated_at:>=...")`` connection would put the reads on one budget; the simulator
serves only the REST list so far, which is why REST is used here (a choice to revisit).

Quantities: ``productVariants(first: n, after: cursor) { sku inventoryQuantity }``, paced at its
requested cost (``2 + n`` points), retried after a ``Throttled`` answer for as long as the bucket
needs to refill. ``inventoryQuantity`` is the variant's total available across locations, which
is what a one-location shop lists. Channel extras: ``api_version``, ``reconcile_page_size`` (250).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.base import PushResult
from adapters.http_retry import backoff, retry_after
from adapters.reading import (
    Pace,
    ReadError,
    ReadStats,
    epoch,
    get_paced,
    order_lines,
)
from adapters.shopify.admin import admin_api
from adapters.shopify.answers import is_throttled, read_budget, refill_wait
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

QUANTITIES = """query Quantities($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    edges { node { sku inventoryQuantity } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@dataclass
class ShopifyReconcile:
    """The Shopify ``ReconcileAdapter`` (see the module docstring)."""

    kind: str = "shopify"
    api_version: str = "2025-01"
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
        since_iso = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        limit, since_id = self._first(channel), 0
        while True:
            params = {"status": "any", "updated_at_min": since_iso, "since_id": since_id, "limit": limit}
            # REST has its own bucket: paced at cost 0 on the GraphQL budget (see the module docstring).
            response = await get_paced(
                client,
                f"{base}/orders.json",
                params=params,
                headers=headers,
                cost=0.0,
                pace=pace,
                stats=stats,
                sleep=self.sleep,
                max_attempts=self.max_attempts,
                what="Shopify orders",
            )
            rows = orjson.loads(response.content).get("orders")
            if not isinstance(rows, list):
                raise ReadError(f"no orders list in Shopify's answer: {response.text[:200]}")
            page = [o for o in (_order(row) for row in rows) if o is not None]
            if page:
                yield page
            if len(rows) < limit:
                return
            since_id = max(int(row["id"]) for row in rows)

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        base, headers = self._base(channel)
        first, after = self._first(channel), None
        while True:
            connection = await self._variants(
                client, f"{base}/graphql.json", headers, first, after, pace, stats
            )
            page: dict[str, int] = {}
            for edge in connection.get("edges") or []:
                node = edge.get("node") or {}
                sku, qty = node.get("sku"), node.get("inventoryQuantity")
                if sku and isinstance(qty, int) and sku not in page:
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
        pace: Pace,
        stats: ReadStats,
    ) -> dict[str, Any]:
        content = orjson.dumps({"query": QUANTITIES, "variables": {"first": first, "after": after}})
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


def _order(row: Any) -> ChannelOrder | None:
    if not isinstance(row, dict) or row.get("id") is None:
        return None
    at = epoch(row.get("created_at")) or 0.0
    modified = epoch(row.get("updated_at")) or at
    lines = order_lines(row.get("line_items"))
    return ChannelOrder(str(row["id"]), lines, at, modified, row.get("cancelled_at") is not None)
