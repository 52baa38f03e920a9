"""eBay listings made outside the Inventory API, over loopback: the simulator's Trading API is as
strict as eBay's pages (headers, token, 4 a call, unknown and Inventory API listings refused, the
call quota), and a channel with both kinds of listing converges to master on Ray (real Redis, real
shard actors): Inventory API SKUs by bulkUpdatePriceQuantity, the others by ReviseInventoryStatus,
with the target landing as the available quantity whatever was sold; reconciliation reads both."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray

from actors.runtime import ensure_channels, ensure_shards, kill_channels, kill_shards
from actors.shard_client import ShardClient
from adapters.ebay.reconcile import EbayReconcile
from adapters.ebay.sim.app import EbaySimulator
from adapters.ebay.trading import NS
from adapters.reading import ReadStats
from adapters.sim.core import serve_in_thread
from engine.config import ChannelConfig, Config, EngineConfig, StoreConfig
from engine.routing import ShardMap
from tests.conftest import REDIS_URL
from tests.integration.support import listed, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
INVENTORY = [f"EI{n}" for n in range(4)]
LEGACY = [f"EL{n}" for n in range(10)]
VARIATION_SKU = "EL&9 <RED/M>"


def ebay_keys(url: str) -> dict[str, Any]:
    return {
        "base_url": url,
        "token_url": f"{url}/identity/v1/oauth2/token",
        "client_id": "sim-client-id",
        "client_secret": "sim-client-secret",
        "refresh_token": "v^1.1#sim-refresh",
        "verification_token": "ebay-verification-token-0123456789",
        "endpoint_url": "https://sync.example.com/webhooks/eb",
    }


def token(url: str) -> str:
    basic = httpx.BasicAuth("sim-client-id", "sim-client-secret")
    form = {"grant_type": "refresh_token", "refresh_token": "v^1.1#sim-refresh"}
    r = httpx.post(f"{url}/identity/v1/oauth2/token", data=form, auth=basic, timeout=10)
    return str(r.json()["access_token"])


def revise(url: str, statuses: list[tuple[str, int]], headers: dict[str, str]) -> ET.Element:
    inner = "".join(
        f"<InventoryStatus><ItemID>{i}</ItemID><Quantity>{q}</Quantity></InventoryStatus>"
        for i, q in statuses
    )
    root = "ReviseInventoryStatusRequest"
    body = f'<?xml version="1.0" encoding="utf-8"?><{root} xmlns="{NS}">{inner}</{root}>'
    r = httpx.post(f"{url}/ws/api.dll", content=body.encode(), headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content)


def ack_and_codes(root: ET.Element) -> tuple[str, list[str]]:
    return root.findtext(f"{{{NS}}}Ack") or "", [
        e.findtext(f"{{{NS}}}ErrorCode") or "" for e in root.iter(f"{{{NS}}}Errors")
    ]


def test_the_simulated_trading_api_refuses_what_ebay_refuses() -> None:
    sim = EbaySimulator()
    ids = sim.seed([{"sku": "INV", "quantity": 5}])
    item = sim.seed_trading([{"sku": "OLD", "quantity": 10}])["OLD"]["trading"]["item_id"]
    url, stop = serve_in_thread(sim.app)
    try:
        good = {
            "X-EBAY-API-CALL-NAME": "ReviseInventoryStatus",
            "X-EBAY-API-SITEID": "0",
            "X-EBAY-API-COMPATIBILITY-LEVEL": "1451",
            "X-EBAY-API-IAF-TOKEN": token(url),
        }
        for header in ("X-EBAY-API-SITEID", "X-EBAY-API-COMPATIBILITY-LEVEL", "X-EBAY-API-CALL-NAME"):
            missing = {k: v for k, v in good.items() if k != header}
            assert ack_and_codes(revise(url, [(item, 3)], missing))[0] == "Failure"
        assert ack_and_codes(revise(url, [(item, 3)], good | {"X-EBAY-API-IAF-TOKEN": "nope"})) == (
            "Failure",
            ["21916984"],
        )
        five = [(item, 1)] + [(str(n), 1) for n in range(4)]
        assert ack_and_codes(revise(url, five, good))[0] == "Failure" and listed(url)["OLD"] == 10
        assert (
            httpx.get(
                f"{url}/sell/inventory/v1/offer",
                params={"sku": "OLD"},
                headers={"Authorization": f"Bearer {good['X-EBAY-API-IAF-TOKEN']}"},
            ).status_code
            == 404
        )

        # 3 sold on eBay: a revise to 10 leaves 10 available and echoes 13 (available plus sold).
        assert sim.store.try_sell([("OLD", 3)]) is not None
        inventory_listing = ids["INV"]["listings"][0]
        root = revise(url, [(item, 10), ("999", 1), (inventory_listing, 1)], good)
        assert ack_and_codes(root) == ("PartialFailure", ["17", "21919474"])
        params = [v.text for v in root.iter(f"{{{NS}}}Value")]
        assert params == ["999", inventory_listing]  # each error names its listing
        [echo] = root.findall(f"{{{NS}}}InventoryStatus")
        assert (echo.findtext(f"{{{NS}}}ItemID"), echo.findtext(f"{{{NS}}}Quantity")) == (item, "13")
        assert listed(url)["OLD"] == 10 and listed(url)["INV"] == 5

        sim.settings({"rates": {"trading": [0.001, 1]}})
        assert ack_and_codes(revise(url, [(item, 4)], good))[0] == "Success"
        assert ack_and_codes(revise(url, [(item, 5)], good)) == ("Failure", ["518"])
    finally:
        stop()


@pytest.fixture
def deployment(
    ray_cluster: None, prefix: str, request: pytest.FixtureRequest
) -> Iterator[tuple[Config, EbaySimulator, str]]:
    daily = getattr(request, "param", 4_320_000)  # by default 50 a second, as the simulator is set
    sim = EbaySimulator()
    sim.seed([{"sku": s, "quantity": 0} for s in INVENTORY])
    items = [{"sku": s, "quantity": 5} for s in LEGACY[:-1]]
    item_ids = sim.seed_trading([*items, {"sku": LEGACY[-1], "quantity": 5, "ebay_sku": VARIATION_SKU}])
    sim.settings({"rates": {"trading": [50, 50]}})
    url, stop = serve_in_thread(sim.app)
    listings = {s: ids["trading"]["item_id"] for s, ids in item_ids.items()}
    listings[LEGACY[-1]] = [listings[LEGACY[-1]], VARIATION_SKU]
    eb = ChannelConfig(
        id="eb",
        kind="ebay",
        trading_listings=listings,
        trading_daily_calls=daily,
        retry_base_s=0.05,
        **ebay_keys(url),
    )
    pos = ChannelConfig(id="pos", kind="generic")  # the seller's own checkout, where sales happen
    cfg = Config(store=StoreConfig(key_prefix=prefix), engine=EngineConfig(shards=2), channels=[eb, pos])
    yield cfg, sim, url
    kill_shards(cfg)
    kill_channels(cfg)
    stop()


def sale(n: int, lines: dict[str, int], channel: str = "pos") -> dict[str, Any]:
    items = [{"sku": s, "quantity": q} for s, q in lines.items()]
    return {
        "kind": "order_placed",
        "key": f"sale-{n}",
        "channel": channel,
        "order_id": f"o{n}",
        "lines": items,
        "at": 0.0,
    }


def test_both_kinds_of_listing_converge_to_master(deployment: tuple[Config, EbaySimulator, str]) -> None:
    cfg, sim, url = deployment
    assert sim.store.try_sell([("EL0", 3)]) is not None  # sold on eBay before we start: 2 left
    handle = ensure_channels(cfg, REDIS_URL)["eb"]
    client = ShardClient(ensure_shards(cfg, REDIS_URL, fan_out=True), ShardMap(2, cfg.engine.vshards))
    wait_until(
        lambda: ray.get(handle.stats.remote())["catalog_skus"] == len(INVENTORY + LEGACY),
        "catalog import of both kinds",
    )
    client.submit(
        [{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 10} for s in INVENTORY + LEGACY]
    )
    wait_until(lambda: all(listed(url)[s] == 10 for s in INVENTORY + LEGACY), "both kinds list master's 10")
    assert sim.trading.total[listing_of(sim, "EL0")] == 13  # 10 available plus the 3 sold, as eBay counts

    client.submit([sale(1, {"EL0": 3, "EI0": 2, "EL9": 1, "EL1": 4})])
    expect = {s: 10 for s in INVENTORY + LEGACY} | {"EL0": 7, "EI0": 8, "EL9": 9, "EL1": 6}
    wait_until(lambda: {s: listed(url)[s] for s in expect} == expect, "both kinds follow the sale")
    wait_until(lambda: ray.get(handle.idle.remote()), "the channel is idle")

    sizes = [len(ET.fromstring(c).findall(f"{{{NS}}}InventoryStatus")) for c in sim.trading.calls]
    assert max(sizes) <= 4 < sum(sizes) and max(sizes) > 1  # batched, never over eBay's 4
    bulk_skus = {r["sku"] for body in sim.updates for r in body["requests"]}
    assert bulk_skus <= set(INVENTORY)  # Trading listings never went to the Inventory API
    assert any(
        VARIATION_SKU.encode().replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;") in c
        for c in sim.trading.calls
    )

    read = asyncio.run(listed_by_reconcile(cfg.channels[0]))
    assert read == {s: q for s, q in expect.items() if s != "EL9"}  # a variation is not read


def listing_of(sim: EbaySimulator, sku: str) -> str:
    return str(sim.store.listings[sku].ids["listings"][0])


async def listed_by_reconcile(channel: ChannelConfig) -> dict[str, int]:
    async def free(cost: float) -> None:
        return None

    out: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        async for page in EbayReconcile().listed_quantities(client, channel, free, ReadStats()):
            out.update(page)
    return out


@pytest.mark.parametrize("deployment", [1_440], indirect=True)  # one call a minute, one saved up
def test_inventory_api_skus_go_on_while_trading_ones_wait_for_their_budget(
    deployment: tuple[Config, EbaySimulator, str],
) -> None:
    cfg, sim, url = deployment
    handle = ensure_channels(cfg, REDIS_URL)["eb"]
    client = ShardClient(ensure_shards(cfg, REDIS_URL, fan_out=True), ShardMap(2, cfg.engine.vshards))
    wait_until(
        lambda: ray.get(handle.stats.remote())["catalog_skus"] == len(INVENTORY + LEGACY), "catalog import"
    )
    # The Trading SKUs first: one call spends the budget and six or more wait, older than any
    # Inventory API SKU, so they come first in line when those arrive.
    client.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 10} for s in LEGACY])
    wait_until(lambda: len(sim.trading.calls) == 1, "the one Trading call the budget allows")
    client.submit([{"kind": "stock_set", "key": f"seed-{s}", "sku": s, "quantity": 10} for s in INVENTORY])
    wait_until(
        lambda: all(listed(url)[s] == 10 for s in INVENTORY), "the Inventory API SKUs, not held behind"
    )
    assert len(sim.trading.calls) == 1
    written = [s for s in LEGACY if listed(url)[s] == 10]
    assert 1 <= len(written) <= 4 < len(LEGACY)  # the rest wait for the next minute's call
    assert ray.get(handle.stats.remote())["dead_letters"] == 0
