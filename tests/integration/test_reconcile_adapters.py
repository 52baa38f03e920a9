"""The read side of reconciliation against the simulators over loopback: orders since, listed quantities."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.base import adapter_for
from adapters.reading import ReadStats
from adapters.shopify.sim.app import ShopifySimulator
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SKUS = [f"R-{i:03d}" for i in range(7)]


async def no_wait(cost: float) -> None:
    return None


async def read_all(
    channel: ChannelConfig, since: float
) -> tuple[list[ChannelOrder], dict[str, int], ReadStats]:
    adapter = adapter_for(channel.kind).RECONCILE
    stats = ReadStats()
    async with httpx.AsyncClient(timeout=10) as client:
        orders = [
            o async for page in adapter.orders_since(client, channel, since, no_wait, stats) for o in page
        ]
        listed: dict[str, int] = {}
        async for page in adapter.listed_quantities(client, channel, no_wait, stats):
            listed.update(page)
    return orders, listed, stats


def sell(store: Any, n: int) -> None:
    for i in range(n):
        assert store.try_sell([(SKUS[i % len(SKUS)], 1)]) is not None


def test_shopify_reads_every_order_and_quantity(serve: Callable[[Any], str]) -> None:
    sim = ShopifySimulator(access_token="tok")
    sim.seed([{"sku": s, "quantity": 10 + i} for i, s in enumerate(SKUS)])
    url = serve(sim.app)
    start = time.time() - 5
    sell(sim.store, 9)
    channel = ChannelConfig(
        id="shop",
        kind="shopify",
        base_url=url,
        access_token="tok",
        reconcile_page_size=4,
        location_id="gid://shopify/Location/1",
    )
    orders, listed, stats = asyncio.run(read_all(channel, start))
    assert sorted(int(o.order_id) for o in orders) == [o.order_id for o in sim.store.orders]
    assert all(o.lines and not o.cancelled and o.modified >= start for o in orders)
    assert listed == {s: item.quantity for s, item in sim.store.listings.items()}
    assert stats.calls == 3 + 2  # 9 orders in pages of 4 (the last short), 7 variants in pages of 4
    assert stats.cost > 0
    later, _, _ = asyncio.run(read_all(channel, time.time() + 3600))
    assert later == []


def test_woocommerce_reads_simple_and_variations(serve: Callable[[Any], str]) -> None:
    sim = WooCommerceSimulator()
    items = [
        {"sku": s, "quantity": 5 + i, **({"group": "shirt"} if i % 2 else {})} for i, s in enumerate(SKUS)
    ]
    sim.seed(items)
    url = serve(sim.app)
    start = time.time() - 5
    sell(sim.store, 5)
    channel = ChannelConfig(
        id="woo",
        kind="woocommerce",
        base_url=url,
        consumer_key="ck_simulated",
        consumer_secret="cs_simulated",
        reconcile_page_size=2,
    )
    orders, listed, stats = asyncio.run(read_all(channel, start))
    assert sorted(int(o.order_id) for o in orders) == [o.order_id for o in sim.store.orders]
    assert listed == {s: item.quantity for s, item in sim.store.listings.items()}
    assert stats.calls >= 5
