"""The Amazon adapter against its strict simulator over loopback HTTP (no Ray, no Redis): tokens,
pushes, refusals, the catalog past the search cap, and reconciliation's reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.amazon.lwa import LwaTokens
from adapters.amazon.outbound import AmazonOutbound
from adapters.amazon.reconcile import AmazonReconcile
from adapters.amazon.sim.app import AmazonSimulator
from adapters.base import ListingUpdate
from adapters.reading import ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Serve = Callable[[Any], str]
SELLER = "A2SIMSELLER"


def channel(url: str, **over: Any) -> ChannelConfig:
    keys = {
        "base_url": url,
        "token_url": f"{url}/auth/o2/token",
        "client_id": "amzn1.application-oa2-client.sim",
        "client_secret": "sim-client-secret",
        "refresh_token": "Atzr|sim-refresh",
        "seller_id": SELLER,
        "marketplace_id": "ATVPDKIKX0DER",
        "product_type": "PRODUCT",
    }
    return ChannelConfig(id=f"amz-{url.rsplit(':', 1)[1]}", kind="amazon", **{**keys, **over})


async def no_wait(cost: float) -> None:
    return None


def sim_with(serve: Serve, skus: int = 3, **kw: Any) -> tuple[AmazonSimulator, str]:
    sim = AmazonSimulator(**kw)
    sim.seed([{"sku": f"S{i:03d}", "quantity": 5} for i in range(skus)])
    return sim, serve(sim.app)


def test_a_push_fetches_a_token_and_sets_the_listed_quantity(serve: Serve) -> None:
    sim, url = sim_with(serve)
    ch = channel(url)

    async def run() -> list[str]:
        adapter = AmazonOutbound(tokens=LwaTokens(ch))
        async with httpx.AsyncClient(timeout=10) as client:
            catalog = await adapter.import_catalog(client, ch)
            update = ListingUpdate("S001", 2, 1, catalog["S001"])
            return adapter.parse(await client.send(adapter.build(ch, [update])), [update]).ok

    assert asyncio.run(run()) == ["S001"]
    assert sim.store.listings["S001"].quantity == 2
    assert sim.patches[-1]["productType"] == "PRODUCT" and sim.patches[-1]["patches"][0]["op"] == "merge"


def test_the_simulator_refuses_what_sp_api_refuses(serve: Serve) -> None:
    _, url = sim_with(serve, rates={"patchListingsItem": (5.0, 5.0)}, token_ttl_s=3600)
    ch = channel(url)
    token = httpx.post(
        f"{url}/auth/o2/token",
        json={
            "grant_type": "refresh_token",
            "client_id": "amzn1.application-oa2-client.sim",
            "client_secret": "sim-client-secret",
            "refresh_token": "Atzr|sim-refresh",
        },
    ).json()["access_token"]
    item = f"{url}/listings/2021-08-01/items/{SELLER}/S000"
    headers = {"x-amz-access-token": token}
    good = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}],
            }
        ],
    }
    q = {"marketplaceIds": "ATVPDKIKX0DER"}
    no_type = httpx.patch(item, params=q, headers=headers, json={"patches": good["patches"]})
    assert no_type.status_code == 400 and "productType" in no_type.text
    wrong_op = httpx.patch(
        item, params=q, headers=headers, json={**good, "patches": [{**good["patches"][0], "op": "set"}]}
    )
    assert wrong_op.status_code == 400
    assert httpx.patch(item, headers=headers, json=good).status_code == 400  # no marketplaceIds
    assert (
        httpx.patch(item, params=q, headers={"x-amz-access-token": "Atza|forged"}, json=good).status_code
        == 403
    )
    statuses = [httpx.patch(item, params=q, headers=headers, json=good).status_code for _ in range(8)]
    assert statuses.count(429) >= 2 and statuses[0] == 200  # burst 5 (one spent above), then QuotaExceeded
    bad_grant = httpx.post(f"{url}/auth/o2/token", json={"grant_type": "refresh_token", "client_id": "x"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    assert ch.id  # the channel is only used for its URL here


def test_an_expired_token_is_refused_then_replaced(serve: Serve) -> None:
    now = [1_790_000_000.0]
    sim, url = sim_with(serve, token_ttl_s=3600)
    sim.store.clock = lambda: now[0]
    ch = channel(url)

    async def run() -> tuple[list[str], list[str], int]:
        tokens = LwaTokens(ch, clock=lambda: now[0])
        adapter = AmazonOutbound(tokens=tokens)
        update = ListingUpdate("S000", 4, 1, {"product_type": "SHIRT"})
        async with httpx.AsyncClient(timeout=10) as client:
            await tokens.ensure(client)
            first = adapter.parse(await client.send(adapter.build(ch, [update])), [update]).ok
            sim.tokens.clear()  # Amazon revoked it (or its hour ran out on Amazon's clock)
            refused = adapter.parse(await client.send(adapter.build(ch, [update])), [update]).retry
            await tokens.ensure(client)
            return first, refused, tokens.fetches

    first, refused, fetches = asyncio.run(run())
    assert first == ["S000"] and refused == ["S000"] and fetches == 2


def test_the_catalog_is_imported_past_the_search_cap(serve: Serve) -> None:
    _, url = sim_with(serve, skus=57, search_cap=20)
    ch = channel(url)

    async def run() -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await AmazonOutbound(tokens=LwaTokens(ch)).import_catalog(client, ch)

    catalog = asyncio.run(run())
    assert sorted(catalog) == [f"S{i:03d}" for i in range(57)]
    assert {ids["product_type"] for ids in catalog.values()} == {"SHIRT"}


def test_reconciliation_reads_orders_and_listed_quantities(serve: Serve) -> None:
    sim, url = sim_with(serve, skus=25)
    ch = channel(url)
    sold = sim.store.try_sell([("S001", 2), ("S002", 1)])
    assert sold is not None
    sim.render_webhook(sold)  # books the Pending order
    gone = sim.store.try_sell([("S003", 1)])
    assert gone is not None
    sim.render_webhook(gone)
    order_id = next(o for o in sim.orders if sim.orders[o].lines == [("S003", 1)])
    assert httpx.post(f"{url}/_sim/amazon/orders/{order_id}", json={"status": "Canceled"}).status_code == 200

    async def run() -> tuple[list[ChannelOrder], dict[str, int]]:
        reader, stats = AmazonReconcile(), ReadStats()
        async with httpx.AsyncClient(timeout=10) as client:
            orders = [o async for page in reader.orders_since(client, ch, 0.0, no_wait, stats) for o in page]
            listed: dict[str, int] = {}
            async for page in reader.listed_quantities(client, ch, no_wait, stats):
                listed.update(page)
            return orders, listed

    orders, listed = asyncio.run(run())
    by_id = {o.order_id: o for o in orders}
    placed = by_id[next(o for o in sim.orders if o != order_id)]
    assert placed.lines == (("S001", 2), ("S002", 1)) and not placed.cancelled and placed.version
    assert by_id[order_id].cancelled and by_id[order_id].lines == (("S003", 0),)
    assert listed == {f"S{i:03d}": q for i, q in ((i, 5) for i in range(25))} | {"S001": 3, "S002": 4}
