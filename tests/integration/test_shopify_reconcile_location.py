"""Shopify reconciliation on a two-location shop, over real HTTP on loopback against the strict
simulator: the listed quantity is the configured location's, never the variant's total."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from adapters.reading import ReadStats
from adapters.shopify.reconcile import ShopifyReconcile
from adapters.shopify.sim.app import ShopifySimulator
from engine.config import ChannelConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "shpat_locations"
LOC1, LOC2 = "gid://shopify/Location/1", "gid://shopify/Location/2"
AUTH = {"X-Shopify-Access-Token": TOKEN}
Serve = Callable[[Any], str]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def shopify(url: str, **extra: Any) -> ChannelConfig:
    fields = {"id": "shop", "kind": "shopify", "base_url": url, "access_token": TOKEN, "location_id": LOC1}
    return ChannelConfig.model_validate(fields | extra)


def test_reconciliation_reads_only_the_configured_location(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    sim.seed(
        [
            {"sku": "A", "quantity": 5, "locations": {LOC2: 7}},  # stocked at both
            {"sku": "B", "quantity": 3},  # only at ours
            {"sku": "C", "quantity": 0, "locations": {LOC2: 4}},  # sold out here, stock elsewhere
        ]
    )
    url = serve(sim.app)
    # A shop with two locations: the variant total sums them, which is not what we list.
    query = {"query": "query { productVariants(first: 10) { edges { node { sku inventoryQuantity } } } }"}
    edges = http.post(f"{url}/admin/api/2026-10/graphql.json", json=query, headers=AUTH).json()
    totals = {
        e["node"]["sku"]: e["node"]["inventoryQuantity"] for e in edges["data"]["productVariants"]["edges"]
    }
    assert totals == {"A": 12, "B": 3, "C": 4}

    async def no_wait(cost: float) -> None:
        return None

    async def read(channel: ChannelConfig) -> dict[str, int]:
        listed: dict[str, int] = {}
        async with httpx.AsyncClient(timeout=10) as client:
            async for page in ShopifyReconcile().listed_quantities(client, channel, no_wait, ReadStats()):
                listed.update(page)
        return listed

    assert asyncio.run(read(shopify(url, reconcile_page_size=2))) == {"A": 5, "B": 3, "C": 0}
    assert asyncio.run(read(shopify(url, location_id=LOC2))) == {"A": 7, "C": 4}  # B not stocked there
