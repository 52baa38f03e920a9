"""Shopify outbound: absolute quantities through ``inventorySetQuantities``, catalog from ``productVariants``.

Cost model (one function, ``mutation_cost``): Shopify charges a GraphQL call its *requested* cost up
front, from a bucket of 1,000 points restored at 100 points/s on the Standard plan (200 Advanced,
1,000 Plus; ``default_rate`` is configurable and the channel's ``rate_limit`` overrides it). The
published cost table (shopify.dev, "GraphQL Admin API rate limits", section "Cost calculation")
charges by what fields *return*: scalar and enum 0, object 1, connection 2 plus the objects returned,
mutation 10; input arguments are not charged, so one ``inventorySetQuantities`` call costs the same
whether it carries 1 or 250 quantities. Hence ``10 + per_quantity * n`` with ``per_quantity``
defaulting to 0 (channel extra ``mutation_cost_per_quantity``, e.g. 1 to budget as if each quantity
cost a point, if a shop's ``actualQueryCost`` says so). Every answer carries
``extensions.cost.throttleStatus``, which ``parse`` hands back as the true budget, so a wrong estimate
costs a little pacing accuracy, never correctness.

Other facts the code relies on: input arrays are capped at 250 items (shopify.dev "API limits"), hence
``max_batch=250``; a throttled call answers ``errors[{message: "Throttled", extensions.code:
THROTTLED}]`` (HTTP 200 as documented, 429 also accepted). *Unverified*: whether a call with
``userErrors`` applies the other quantities. ``parse`` reads ``inventoryAdjustmentGroup``: null means
nothing was applied, so the SKUs without an error are retried; otherwise they count as accepted.
From API version 2026-04 ``ignoreCompareQuantity`` gives way to per-quantity ``changeFromQuantity``;
the default version here is 2025-01.

Channel extras: ``location_id`` (numeric or ``gid://shopify/Location/N``), ``api_version``,
``max_batch``, ``catalog_page_size``, ``mutation_cost_per_quantity``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import backoff, retry_after
from adapters.shopify.admin import admin_api
from adapters.shopify.answers import (
    as_list,
    classify_errors,
    classify_payload,
    is_throttled,
    json_object,
    read_budget,
    refill_wait,
)
from engine.config import ChannelConfig

SET_QUANTITIES = """mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""

VARIANTS = """query Variants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    edges { node { id sku inventoryItem { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


class CatalogImportError(RuntimeError):
    """The catalog could not be read (refused credentials, a GraphQL error, retries exhausted)."""


MUTATION_COST = 10.0
"""Published cost of a mutation field (shopify.dev "GraphQL Admin API rate limits", cost table)."""
PER_QUANTITY_COST = 0.0
"""Published cost of each input quantity: none, the table charges returned fields, not arguments."""


def mutation_cost(n_quantities: int, per_quantity: float = PER_QUANTITY_COST) -> float:
    """Requested cost of one ``inventorySetQuantities`` call with ``n_quantities``: ``10 + per_quantity * n``.

    The selection set (one adjustment group, its changes, user errors) is not charged beyond the
    mutation's 10 in this model; a shop's ``requestedQueryCost`` corrects the budget if it differs.
    """
    return MUTATION_COST + per_quantity * n_quantities


def catalog_page_cost(first: int) -> float:
    """Requested cost of one ``productVariants(first: n)`` page: connection 2 + one per node, at most."""
    return 2.0 + first


def gid(kind: str, value: Any) -> str:
    """Shopify's global id for ``value``, which may already be one or a bare number."""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


@dataclass
class ShopifyOutbound:
    """The Shopify ``OutboundAdapter``: one GraphQL mutation sets up to ``max_batch`` quantities.

    ``for_channel`` returns a copy with the channel's ``max_batch`` / ``api_version`` /
    ``mutation_cost_per_quantity`` extras applied.
    ``sleep`` is injectable so catalog imports can be tested without real waiting.
    """

    kind: str = "shopify"
    max_batch: int = 250
    default_rate: tuple[float, float] = (100.0, 1000.0)
    api_version: str = "2025-01"
    catalog_page_size: int = 250
    cost_per_quantity: float = PER_QUANTITY_COST
    max_attempts: int = 30
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> ShopifyOutbound:
        return replace(
            self,
            max_batch=int(getattr(channel, "max_batch", self.max_batch)),
            api_version=str(getattr(channel, "api_version", self.api_version)),
            catalog_page_size=int(getattr(channel, "catalog_page_size", self.catalog_page_size)),
            cost_per_quantity=float(getattr(channel, "mutation_cost_per_quantity", self.cost_per_quantity)),
        )

    def cost(self, updates: list[ListingUpdate]) -> float:
        return mutation_cost(len(updates), self.cost_per_quantity)

    def _endpoint(self, channel: ChannelConfig) -> tuple[str, dict[str, str]]:
        base, headers = admin_api(channel, self.api_version)
        return f"{base}/graphql.json", headers

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One mutation for all ``updates``; raises ValueError on an empty, oversized or id-less batch."""
        if not updates or len(updates) > self.max_batch:
            raise ValueError(f"a Shopify batch carries 1..{self.max_batch} updates, not {len(updates)}")
        if len({u.sku for u in updates}) != len(updates):
            raise ValueError("a Shopify batch must name each SKU once (coalesce first)")
        default_location = getattr(channel, "location_id", None)
        quantities = []
        for u in updates:
            location = u.ids.get("location_id") or default_location
            if "inventory_item_id" not in u.ids or location is None:
                raise ValueError(
                    f"SKU {u.sku!r} lacks an inventory_item_id or location_id (import the catalog)"
                )
            quantities.append(
                {
                    "inventoryItemId": gid("InventoryItem", u.ids["inventory_item_id"]),
                    "locationId": gid("Location", location),
                    "quantity": u.quantity,
                }
            )
        variables = {
            "input": {
                "name": "available",
                "reason": "correction",
                "ignoreCompareQuantity": True,
                "quantities": quantities,
            }
        }
        url, headers = self._endpoint(channel)
        return httpx.Request(
            "POST",
            url,
            content=orjson.dumps({"query": SET_QUANTITIES, "variables": variables}),
            headers=headers,
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        body = json_object(response)
        result = PushResult()
        requested = read_budget(result, body) or self.cost(updates)
        if status == 429 or status >= 500:
            result.retry = skus
            result.retry_after_s = retry_after(response)
            if result.retry_after_s is None and result.budget_available is not None:
                result.retry_after_s = refill_wait(result, requested)
            return result
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        if body is None:
            return PushResult(retry=skus)
        if body.get("errors"):
            errors = [e if isinstance(e, dict) else {"message": str(e)} for e in as_list(body["errors"])]
            return classify_errors(result, errors, skus, requested)
        payload = (body.get("data") or {}).get("inventorySetQuantities")
        if not isinstance(payload, dict):
            result.failed = dict.fromkeys(skus, "no inventorySetQuantities payload in the answer")
            return result
        return classify_payload(result, payload, skus)

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """Every variant with a SKU: ``{sku: {"inventory_item_id", "variant_id", "location_id"?}}``."""
        url, headers = self._endpoint(channel)
        location = getattr(channel, "location_id", None)
        first = min(250, self.catalog_page_size)
        out: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            body = await self._catalog_page(client, url, headers, {"first": first, "after": after})
            connection = (body.get("data") or {}).get("productVariants")
            if not isinstance(connection, dict):
                raise CatalogImportError(f"no productVariants in Shopify's answer: {str(body)[:200]}")
            for edge in connection["edges"]:
                node = edge["node"]
                if node.get("sku") and node["sku"] not in out:  # first listing of a duplicated SKU wins
                    ids = {"inventory_item_id": node["inventoryItem"]["id"], "variant_id": node["id"]}
                    out[node["sku"]] = ids | ({"location_id": gid("Location", location)} if location else {})
            if not connection["pageInfo"]["hasNextPage"]:
                return out
            after = connection["pageInfo"]["endCursor"]
            await self._pace(body, catalog_page_cost(first))

    async def _catalog_page(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], variables: dict[str, Any]
    ) -> dict[str, Any]:
        content = orjson.dumps({"query": VARIANTS, "variables": variables})
        for attempt in range(self.max_attempts):
            response = await client.post(url, content=content, headers=headers)
            if response.status_code == 429 or response.status_code >= 500:
                await self.sleep(retry_after(response) or backoff(attempt))
                continue
            if response.status_code != 200:
                raise CatalogImportError(
                    f"Shopify answered HTTP {response.status_code}: {response.text[:200]}"
                )
            body = json_object(response)
            if body is None:
                raise CatalogImportError(f"Shopify answered a non-object: {response.text[:200]}")
            probe = PushResult()
            requested = read_budget(probe, body)
            errors = [
                e if isinstance(e, dict) else {"message": str(e)} for e in as_list(body.get("errors") or [])
            ]
            if any(is_throttled(e) for e in errors):
                await self.sleep(refill_wait(probe, requested or catalog_page_cost(variables["first"])))
                continue
            if errors:
                raise CatalogImportError(f"Shopify GraphQL errors: {errors}")
            return body
        raise CatalogImportError(f"gave up after {self.max_attempts} throttled or failed attempts")

    async def _pace(self, body: dict[str, Any], next_cost: float) -> None:
        """Wait until the bucket holds the next page's cost, rather than spending a call on Throttled."""
        probe = PushResult()
        read_budget(probe, body)
        wait = refill_wait(probe, next_cost)
        if wait > 0:
            await self.sleep(wait)
