"""eBay end to end over loopback: a signed ORDER_CONFIRMATION through the gateway moves master stock
once (real Redis, real shard actors; the key fetched from the simulator's getPublicKey, the listing
mapped through its getOrder), the endpoint challenge is answered, a channel actor on Ray pushes to
the simulator until the listing converges, and reconciliation reads orders and listed quantities."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import ray

from actors.runtime import ensure_channels, kill_channels
from adapters.ebay.reconcile import EbayReconcile
from adapters.ebay.sim import notify
from adapters.ebay.sim.app import EbaySimulator
from adapters.reading import ReadStats
from adapters.sim.core import serve_in_thread
from engine.config import ChannelConfig, Config
from engine.reconcile import ChannelOrder
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, listed, new_prefix, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "admin-token-ebay-test"
VERIFY = "ebay-verification-token-0123456789-abcdef"
ENDPOINT = "https://sync.example.com/webhooks/eb"


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[EbaySimulator, str]]:
    simulator = EbaySimulator()
    simulator.seed([{"sku": s, "quantity": 10} for s in ("EB1", "EB2", "EB3")])
    url, stop = serve_in_thread(simulator.app)
    yield simulator, url
    stop()


def table(url: str) -> dict[str, object]:
    return {
        "id": "eb",
        "kind": "ebay",
        "base_url": url,
        "token_url": f"{url}/identity/v1/oauth2/token",
        "client_id": "sim-client-id",
        "client_secret": "sim-client-secret",
        "refresh_token": "v^1.1#sim-refresh",
        "verification_token": VERIFY,
        "endpoint_url": ENDPOINT,
        "retry_base_s": 0.05,
    }


@pytest.fixture(scope="module")
def gw_config(sim: tuple[EbaySimulator, str]) -> Config:
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 2},
            "channels": [table(sim[1])],
        }
    )


def available(gw: Gw, sku: str) -> int:
    r = httpx.get(f"{gw.url}/v1/skus/{sku}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    return int(r.json()["available"])


def test_a_signed_order_confirmation_moves_master_once(gw: Gw, sim: tuple[EbaySimulator, str]) -> None:
    simulator, _ = sim
    gw.set_stock("EB1", 10)
    gw.set_stock("EB2", 10)
    placed = simulator.store.try_sell([("EB1", 2), ("EB2", 1)])
    assert placed is not None
    body, headers = simulator.render_webhook(placed)
    first = httpx.post(f"{gw.url}/webhooks/eb", content=body, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    [decision] = first.json()["decisions"]
    assert decision["key"].startswith("eb:ebay:")
    assert (available(gw, "EB1"), available(gw, "EB2")) == (8, 9)

    again = httpx.post(f"{gw.url}/webhooks/eb", content=body, headers=headers, timeout=30)
    assert again.status_code == 200 and again.json() == first.json()  # decided once
    assert (available(gw, "EB1"), available(gw, "EB2")) == (8, 9)

    forged = notify.Signer(kid=simulator.signer.kid).headers(body)  # eBay's kid, another key
    refused = httpx.post(f"{gw.url}/webhooks/eb", content=body, headers=forged, timeout=30)
    assert refused.status_code == 401 and available(gw, "EB1") == 8


def test_the_endpoint_challenge_is_answered(gw: Gw) -> None:
    url = f"{gw.url}/webhooks/eb"
    assert asyncio.run(notify.validate_endpoint(url, VERIFY, ENDPOINT))
    assert not asyncio.run(notify.validate_endpoint(url, VERIFY, "https://elsewhere.example.com/"))
    assert httpx.get(url, timeout=30).status_code == 400  # no challenge_code
    assert httpx.get(f"{gw.url}/webhooks/nope", params={"challenge_code": "x"}, timeout=30).status_code == 404


def test_a_channel_actor_pushes_until_the_listing_converges(
    gw: Gw, gw_config: Config, sim: tuple[EbaySimulator, str]
) -> None:
    simulator, url = sim
    channel = ensure_channels(gw_config, REDIS_URL)["eb"]
    try:
        wait_until(lambda: ray.get(channel.stats.remote())["catalog_skus"] == 3, "catalog import")
        gw.set_stock("EB3", 6)
        version = int(
            httpx.get(f"{gw.url}/v1/skus/EB3", headers={"Authorization": f"Bearer {TOKEN}"}).json()["version"]
        )
        ray.get(channel.notify.remote({"EB3": {"available": 6, "version": version, "source": None}}))
        wait_until(lambda: listed(url).get("EB3") == 6, "the push of EB3")
        [item] = simulator.updates[-1]["requests"]
        assert item["shipToLocationAvailability"]["quantity"] == 6
        assert [o["availableQuantity"] for o in item["offers"]] == [6]
    finally:
        kill_channels(gw_config)


def test_reconciliation_reads_orders_and_listed_quantities(sim: tuple[EbaySimulator, str]) -> None:
    simulator, url = sim
    sold = simulator.store.try_sell([("EB2", 3)])
    assert sold is not None
    simulator.render_webhook(sold)  # the order exists; its notification is never sent
    cancelled = simulator.store.try_sell([("EB1", 1)])
    assert cancelled is not None
    simulator.render_webhook(cancelled)
    cancelled_id = max(simulator.orders, key=lambda k: simulator.orders[k].created)
    simulator.cancel(cancelled_id)
    channel = ChannelConfig.model_validate(table(url) | {"reconcile_page_size": 1})

    async def free(cost: float) -> None:
        return None

    async def read() -> tuple[list[ChannelOrder], dict[str, int], ReadStats]:
        stats, reader = ReadStats(), EbayReconcile()
        async with httpx.AsyncClient(timeout=10) as client:
            orders = [
                o async for page in reader.orders_since(client, channel, 0.0, free, stats) for o in page
            ]
            quantities: dict[str, int] = {}
            async for page in reader.listed_quantities(client, channel, free, stats):
                quantities.update(page)
        return orders, quantities, stats

    orders, quantities, stats = asyncio.run(read())
    by_id = {o.order_id: o for o in orders}
    assert by_id[cancelled_id].cancelled and by_id[cancelled_id].lines == (("EB1", 1),)
    assert any(o.lines == (("EB2", 3),) and not o.cancelled for o in by_id.values())
    assert all(o.version is not None for o in by_id.values())
    assert stats.calls >= len(simulator.orders)  # one order a page
    assert quantities == listed(url)
