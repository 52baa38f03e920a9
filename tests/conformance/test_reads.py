"""Every kind's reads: the catalog import maps every SKU through its pages, reconciliation's order read
(backfill) finds a sale whose notification was dropped, and it reads the listed quantities."""

from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest
import ray

from adapters.base import adapter_for
from adapters.reading import ReadStats
from adapters.sim.conformance import ConformanceDriver
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder, backfill_events
from tests.conformance.conftest import StartChannel
from tests.conformance.support import CHANNEL, converged, fresh, masters, notify, post_all, stocked
from tests.integration.support import Gw

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
PAGE = 3


async def free(cost: float) -> None:
    return None


def read_orders(channel: ChannelConfig, since: float) -> tuple[list[ChannelOrder], ReadStats]:
    async def run() -> tuple[list[ChannelOrder], ReadStats]:
        stats, reader = ReadStats(), adapter_for(channel.kind).RECONCILE
        async with httpx.AsyncClient(timeout=10) as client:
            pages = reader.orders_since(client, channel, since, free, stats)
            return [order async for page in pages for order in page], stats

    return asyncio.run(run())


def read_listed(channel: ChannelConfig) -> tuple[dict[str, int], ReadStats]:
    async def run() -> tuple[dict[str, int], ReadStats]:
        stats, reader, out = ReadStats(), adapter_for(channel.kind).RECONCILE, {}
        async with httpx.AsyncClient(timeout=10) as client:
            async for page in reader.listed_quantities(client, channel, free, stats):
                out.update(page)
        return out, stats

    return asyncio.run(run())


def test_the_catalog_import_maps_every_sku_through_its_pages(
    driver: ConformanceDriver, start_channel: StartChannel
) -> None:
    skus = fresh(4 * PAGE + 1)
    driver.seed({sku: 1 + i for i, sku in enumerate(skus)}, varied=True)
    handle = start_channel(**driver.paging(PAGE))
    assert ray.get(handle.stats.remote())["catalog_skus"] == len(skus)
    assert driver.requests() >= math.ceil(len(skus) / PAGE)  # paged, not one read
    # Each SKU's ids lead to its own listing: a distinct quantity pushed to each lands there.
    targets = {sku: 50 + i for i, sku in enumerate(skus)}
    notify(handle, targets, 1)
    converged(driver, handle, targets, "a push to every imported SKU")


def test_backfill_finds_a_sale_whose_notification_was_dropped(gw: Gw, driver: ConformanceDriver) -> None:
    skus = fresh(2)
    stocked(gw, driver, dict.fromkeys(skus, 10))
    since = time.time() - 60
    delivered = [driver.sale({skus[0]: 1}) for _ in range(PAGE)]  # more than a page of orders
    for _, sold in delivered:
        post_all(gw, sold)
    dropped, lost = driver.sale({skus[0]: 2, skus[1]: 3})  # its notification never reaches the gateway
    assert masters(gw, skus) == {skus[0]: 10 - PAGE, skus[1]: 10}

    channel = ChannelConfig.model_validate(driver.channel(CHANNEL) | driver.paging(PAGE))
    orders, stats = read_orders(channel, since)
    assert {o.order_id for o in orders} == {dropped, *(order for order, _ in delivered)}
    assert stats.calls >= 2  # paged
    [found] = [o for o in orders if o.order_id == dropped]
    assert dict(zip((s for s, _ in found.lines), (q for _, q in found.lines), strict=True)) == {
        skus[0]: 2,
        skus[1]: 3,
    }
    decisions, _ = gw.shards.submit(backfill_events(CHANNEL, orders))
    outcomes = sorted({d["outcome"] for d in decisions})
    assert "applied" in outcomes and set(outcomes) <= {"applied", "duplicate_order"}, decisions
    expected = {skus[0]: 8 - PAGE, skus[1]: 7}
    assert masters(gw, skus) == expected
    post_all(gw, lost)  # the notification, late after all: the same order again moves nothing
    assert masters(gw, skus) == expected


def test_reconciliation_reads_the_listed_quantities(driver: ConformanceDriver) -> None:
    skus = fresh(3 * PAGE + 1)
    driver.seed({sku: 5 + i for i, sku in enumerate(skus)}, varied=True)
    driver.sale({skus[0]: 2, skus[-1]: 1})  # the marketplace's own sale moves its listings
    channel = ChannelConfig.model_validate(driver.channel("reads") | driver.paging(PAGE))
    listed, stats = read_listed(channel)
    assert listed == driver.listed() and listed[skus[0]] == 3
    assert stats.calls >= math.ceil(len(skus) / PAGE)
