"""Shopify order backfill: the GraphQL ``orders`` connection, read into versioned documents.

``orders(first, after, query: "updated_at:>='T'", sortKey: UPDATED_AT)`` pages by cursor
(``pageInfo { hasNextPage endCursor }``); every order node carries its line items (``sku quantity
currentQuantity``) and its refunds' line items (``quantity restockType lineItem { id }``) and
``cancelledAt``/``updatedAt``, which ``adapters.shopify.order_doc`` maps exactly as the webhooks
are mapped (same lines, same version). The REST ``orders.json`` list is not used: the REST Admin
API is legacy since 2024-10 and new public apps must use GraphQL only since 2025-04 (shopify.dev
changelog "Starting April 2025, new public apps submitted to Shopify app store must use GraphQL").
Without the ``read_all_orders`` scope Shopify returns only the last 60 days of orders ("Only the last
60 days' worth of orders from a store are accessible from the Order object by default", GraphQL
``Order``), so a reconciliation paused longer than that misses older changes.

Nested lists are read in pages of ``lines``/``refunds``/``refund_lines`` per order; an order that
overflows them (more line items, as many refunds as asked, a refund with more line items) is read
again on its own (``order(id:) { lineItems }``, ``order(id:) { refunds { id } }``,
``refund(id:) { refundLineItems }``, 250 per page), so no document is built from a truncated
order.

Cost: Shopify charges a query its *requested* cost up front, computed from the ``first`` arguments
(object 1, scalar and enum 0, connection 2 plus its objects; shopify.dev "GraphQL Admin API rate
limits"), refunds the unused part, and refuses a query above 1,000 points. ``page_cost`` is that
model for the page query, shared with the simulator; the page size is cut so a page stays under
1,000. Pacing: each call first awaits the caller's ``pace`` for what the page will likely cost (the
previous page's actual cost; the first page is guessed at one line and no refund per order), then
settles any excess once the actual cost is known, and waits until the shop's last reported
``throttleStatus`` has restored the call's requested cost; a ``Throttled`` answer waits for the
bucket to refill and is sent again. Reads now share the GraphQL budget with the pushes (the REST
list had a bucket of its own), so a reconciliation paces its order reads within
``reconcile_rate_share`` of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from adapters.base import PushResult
from adapters.http_retry import backoff, retry_after
from adapters.reading import Pace, ReadError, ReadStats
from adapters.shopify.answers import is_throttled, read_budget, refill_wait
from adapters.shopify.order_doc import (
    Item,
    RefundLine,
    ShopifyOrder,
    cancel_restocked,
    doc_lines,
    graphql_order,
)
from engine.reconcile import ChannelOrder

MAX_QUERY_COST = 1000.0
"""Shopify refuses a single query whose requested cost is above this (``MAX_COST_EXCEEDED``)."""
FULL_PAGE = 250
"""Connection page size for the per-order follow-up reads (Shopify's maximum ``first``)."""

_LINE = "id sku quantity currentQuantity"
_REFUND_LINE = "quantity restockType lineItem { id }"

ORDERS = (
    "query Orders($first: Int!, $after: String, $query: String!, $lines: Int!, $refunds: Int!, "
    "$refundLines: Int!) {\n"
    "  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {\n"
    "    nodes { id legacyResourceId createdAt updatedAt cancelledAt\n"
    f"      lineItems(first: $lines) {{ nodes {{ {_LINE} }} pageInfo {{ hasNextPage endCursor }} }}\n"
    "      refunds(first: $refunds) { id\n"
    f"        refundLineItems(first: $refundLines) {{ nodes {{ {_REFUND_LINE} }} "
    "pageInfo { hasNextPage endCursor } } } }\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}"
)
ORDER_LINES = (
    "query OrderLines($id: ID!, $first: Int!, $after: String) {\n"
    "  order(id: $id) { id\n"
    f"    lineItems(first: $first, after: $after) {{ nodes {{ {_LINE} }} "
    "pageInfo { hasNextPage endCursor } }\n"
    "  }\n"
    "}"
)
ORDER_REFUNDS = (
    "query OrderRefunds($id: ID!, $refunds: Int!) {\n"
    "  order(id: $id) { id refunds(first: $refunds) { id } }\n"
    "}"
)
REFUND_LINES = (
    "query RefundLines($id: ID!, $first: Int!, $after: String) {\n"
    "  refund(id: $id) { id\n"
    f"    refundLineItems(first: $first, after: $after) {{ nodes {{ {_REFUND_LINE} }} "
    "pageInfo { hasNextPage endCursor } }\n"
    "  }\n"
    "}"
)


def node_cost(lines: int, refunds: int, refund_lines: int) -> float:
    """Requested cost of one order node of ``ORDERS``: the order, its line item connection, and its
    refunds, each with a refund line item connection whose nodes hold a line item object."""
    return 1 + (2 + lines) + refunds * (1 + 2 + 2 * refund_lines)


def page_cost(first: int, lines: int, refunds: int, refund_lines: int) -> float:
    """Requested cost of an ``ORDERS`` page (the same model gives the actual cost from the counts
    returned, which is how the simulator charges)."""
    return 2 + first * node_cost(lines, refunds, refund_lines)


def order_lines_cost(first: int) -> float:
    return 1 + 2 + first


def order_refunds_cost(refunds: int) -> float:
    return 1 + refunds


def refund_lines_cost(first: int) -> float:
    return 1 + 2 + 2 * first


@dataclass
class ShopifyOrderReader:
    """Reads a channel's orders changed since a time (see the module docstring).

    ``first`` orders per page (cut to fit ``MAX_QUERY_COST``), ``lines`` line items, ``refunds``
    refunds and ``refund_lines`` refund line items per order in the page query.
    """

    first: int = 25
    lines: int = 5
    refunds: int = 2
    refund_lines: int = 5
    max_attempts: int = 20
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _shop: tuple[float, float, float, float] | None = field(default=None, repr=False)
    """Last throttle status: (currently available, maximum, restore rate, when read)."""

    def page_size(self, wanted: int) -> int:
        per_order = node_cost(self.lines, self.refunds, self.refund_lines)
        return max(1, min(wanted, 250, int((MAX_QUERY_COST - 2) // per_order)))

    async def orders_since(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        since: float,
        wanted: int,
        removals_restock: bool,
        pace: Pace,
        stats: ReadStats,
    ) -> AsyncIterator[list[ChannelOrder]]:
        """Pages of ``ChannelOrder``s (versioned documents) updated at or after ``since``."""
        first = self.page_size(wanted)
        stamp = datetime.fromtimestamp(max(0.0, since), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        variables: dict[str, Any] = {
            "first": first,
            "after": None,
            "query": f"updated_at:>='{stamp}'",
            "lines": self.lines,
            "refunds": self.refunds,
            "refundLines": self.refund_lines,
        }
        requested = page_cost(first, self.lines, self.refunds, self.refund_lines)
        estimate = page_cost(first, 1, 0, 0)  # one line, no refund per order, until a page says more
        while True:
            connection, actual = await self._call(
                client, url, headers, ORDERS, variables, "orders", requested, estimate, pace, stats
            )
            estimate = max(1.0, actual)
            page = []
            for node in connection.get("nodes") or []:
                order = await self._whole(client, url, headers, node, pace, stats)
                if order is not None:
                    page.append(channel_order(order, removals_restock))
            yield [o for o in page if o.lines]
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            variables["after"] = info["endCursor"]

    # -- whole orders --------------------------------------------------------------------------
    async def _whole(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        node: Any,
        pace: Pace,
        stats: ReadStats,
    ) -> ShopifyOrder | None:
        """The order of ``node``, reading again whatever the page query cut short."""
        order = graphql_order(node)
        if order is None:
            return None
        gid = node.get("id") or f"gid://shopify/Order/{order.order_id}"
        line_info = (node.get("lineItems") or {}).get("pageInfo") or {}
        refunds = node.get("refunds") or []
        if line_info.get("hasNextPage"):
            items = await self._all_lines(client, url, headers, gid, pace, stats)
            order = _with(order, items=tuple(items))
        if len(refunds) >= self.refunds > 0:  # there may be more than were asked for
            refunds = await self._refund_ids(client, url, headers, gid, pace, stats)
            lines = []
            for refund in refunds:
                lines.extend(await self._refund_lines(client, url, headers, refund["id"], None, pace, stats))
            order = _with(order, refunds=tuple(lines))
        elif any(
            ((r.get("refundLineItems") or {}).get("pageInfo") or {}).get("hasNextPage") for r in refunds
        ):
            lines = []
            for refund in refunds:
                connection = refund.get("refundLineItems") or {}
                if (connection.get("pageInfo") or {}).get("hasNextPage"):
                    lines.extend(
                        await self._refund_lines(client, url, headers, refund["id"], None, pace, stats)
                    )
                else:
                    lines.extend(_refund_nodes(connection))
            order = _with(order, refunds=tuple(lines))
        return order

    async def _all_lines(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        gid: str,
        pace: Pace,
        stats: ReadStats,
    ) -> list[Item]:
        items: list[Item] = []
        after = None
        cost = order_lines_cost(FULL_PAGE)
        while True:
            variables = {"id": gid, "first": FULL_PAGE, "after": after}
            found, _ = await self._call(
                client, url, headers, ORDER_LINES, variables, "order", cost, cost, pace, stats
            )
            connection = found.get("lineItems") or {}
            partial = graphql_order({"id": gid, "updatedAt": "1970-01-01T00:00:00Z", "lineItems": connection})
            items.extend(partial.items if partial is not None else ())
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return items
            after = info.get("endCursor")

    async def _refund_ids(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        gid: str,
        pace: Pace,
        stats: ReadStats,
    ) -> list[dict[str, Any]]:
        cost = order_refunds_cost(FULL_PAGE)
        variables = {"id": gid, "refunds": FULL_PAGE}
        found, _ = await self._call(
            client, url, headers, ORDER_REFUNDS, variables, "order", cost, cost, pace, stats
        )
        refunds = [r for r in found.get("refunds") or [] if isinstance(r, dict) and r.get("id")]
        if len(refunds) >= FULL_PAGE:
            raise ReadError(
                f"Shopify order {gid} has {FULL_PAGE} refunds or more: more than one read can list"
            )
        return refunds

    async def _refund_lines(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        refund_id: str,
        after: str | None,
        pace: Pace,
        stats: ReadStats,
    ) -> list[RefundLine]:
        lines: list[RefundLine] = []
        cost = refund_lines_cost(FULL_PAGE)
        while True:
            variables = {"id": refund_id, "first": FULL_PAGE, "after": after}
            found, _ = await self._call(
                client, url, headers, REFUND_LINES, variables, "refund", cost, cost, pace, stats
            )
            connection = found.get("refundLineItems") or {}
            lines.extend(_refund_nodes(connection))
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return lines
            after = info.get("endCursor")

    # -- one call ------------------------------------------------------------------------------
    async def _call(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        query: str,
        variables: dict[str, Any],
        root: str,
        requested: float,
        estimate: float,
        pace: Pace,
        stats: ReadStats,
    ) -> tuple[dict[str, Any], float]:
        """``data[root]`` of one query and its actual cost, after pacing (see the module docstring)."""
        content = orjson.dumps({"query": query, "variables": variables})
        await pace(estimate)  # once: a throttled retry waits on the shop's own figure instead
        for attempt in range(self.max_attempts):
            wait = self._shop_wait(requested)
            if wait > 0:
                await self.sleep(wait)
            try:  # a read: safe to send again, e.g. after the shop closed a kept-alive connection
                response = await client.post(url, content=content, headers=headers)
            except httpx.TransportError:
                await self.sleep(backoff(attempt))
                continue
            try:
                body = orjson.loads(response.content) if response.content else {}
            except orjson.JSONDecodeError:
                body = {}
            body = body if isinstance(body, dict) else {}
            probe = PushResult()
            read_budget(probe, body)
            self._remember(probe)
            spent = ((body.get("extensions") or {}).get("cost") or {}).get("actualQueryCost")
            actual = float(spent) if isinstance(spent, int | float) else 0.0
            stats.add(actual)
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if response.status_code == 429 or any(is_throttled(e) for e in errors):
                await self.sleep(retry_after(response) or refill_wait(probe, requested))
                continue
            if response.status_code >= 500:
                await self.sleep(backoff(attempt))
                continue
            found = (body.get("data") or {}).get(root)
            if response.status_code != 200 or errors or not isinstance(found, dict):
                raise ReadError(f"Shopify answered HTTP {response.status_code}: {response.text[:200]}")
            if actual > estimate:
                await pace(actual - estimate)  # settle what the estimate left unpaid
            return found, actual
        raise ReadError(f"gave up reading Shopify orders after {self.max_attempts} attempts")

    def _remember(self, probe: PushResult) -> None:
        available, capacity, rate = probe.budget_available, probe.budget_capacity, probe.budget_restore_per_s
        if isinstance(available, int | float) and isinstance(rate, int | float) and rate > 0:
            cap = float(capacity) if isinstance(capacity, int | float) else float("inf")
            self._shop = (float(available), cap, float(rate), self.clock())

    def _shop_wait(self, requested: float) -> float:
        """Seconds until the shop, as it last reported, has ``requested`` points restored."""
        if self._shop is None:
            return 0.0
        available, capacity, rate, at = self._shop
        now = min(capacity, available + (self.clock() - at) * rate)
        return max(0.0, (min(requested, capacity) - now) / rate)


def channel_order(order: ShopifyOrder, removals_restock: bool) -> ChannelOrder:
    """The backfill form of ``order``: the same lines and version the webhooks produce."""
    lines = doc_lines(order, removals_restock)
    return ChannelOrder(
        order_id=order.order_id,
        lines=tuple((line["sku"], line["quantity"]) for line in lines),
        at=order.created if order.created is not None else order.updated,
        modified=order.updated,
        cancelled=order.cancelled,
        version=order.version,
        kept=tuple(line["kept"] for line in lines),
        restock=cancel_restocked(order) if order.cancelled else True,
    )


def _with(order: ShopifyOrder, **changes: Any) -> ShopifyOrder:
    return replace(order, **changes)


def _refund_nodes(connection: Any) -> list[RefundLine]:
    partial = graphql_order(
        {
            "id": "gid://shopify/Order/0",
            "updatedAt": "1970-01-01T00:00:00Z",
            "refunds": [{"refundLineItems": connection}],
        }
    )
    return list(partial.refunds) if partial is not None else []
