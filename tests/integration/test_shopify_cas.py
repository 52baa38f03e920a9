"""Shopify as 2026-04+ behaves, over real HTTP on loopback against the strict simulator:
idempotent compare-and-set pushes, and the channel actor folding in a sale it raced
(reconciliation per location: ``test_shopify_reconcile_location.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import ray

from actors.runtime import ensure_channels, kill_channels
from adapters.base import ListingUpdate
from adapters.shopify.outbound import ShopifyOutbound
from adapters.shopify.sim.app import ShopifySimulator
from engine.config import ChannelConfig, Config, StoreConfig
from tests.conftest import REDIS_URL
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TOKEN = "shpat_cas"
LOC1, LOC2 = "gid://shopify/Location/1", "gid://shopify/Location/2"
AUTH = {"X-Shopify-Access-Token": TOKEN}
Serve = Callable[[Any], str]

# The request today's main sent: version 2025-01, no @idempotent, ignoreCompareQuantity, no
# changeFromQuantity.
OLD_MUTATION = """mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""
MUTATION = """mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def shopify(url: str, **extra: Any) -> ChannelConfig:
    fields = {"id": "shop", "kind": "shopify", "base_url": url, "access_token": TOKEN, "location_id": LOC1}
    return ChannelConfig.model_validate(fields | extra)


def mutate(
    http: httpx.Client, url: str, quantities: list[dict[str, Any]], key: str | None, version: str = "2026-10"
) -> httpx.Response:
    query = OLD_MUTATION if key is None else MUTATION % key
    variables = {"input": {"name": "available", "reason": "correction", "quantities": quantities}}
    return http.post(
        f"{url}/admin/api/{version}/graphql.json", json={"query": query, "variables": variables}, headers=AUTH
    )


def user_errors(response: httpx.Response) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = response.json()["data"]["inventorySetQuantities"]["userErrors"]
    return errors


def codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in user_errors(response)]


def item(sim: ShopifySimulator, sku: str) -> str:
    return str(sim.store.listings[sku].ids["inventory_item_id"])


# -- (a) the correct 2026-04 request is accepted, the old one refused --------------------------------


def test_the_2026_04_request_is_accepted_and_the_old_one_refused(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 5}])
    channel = shopify(url)
    adapter = ShopifyOutbound().for_channel(channel)

    update = ListingUpdate("A", 3, 1, ids["A"], expected=5)
    response = http.send(adapter.build(channel, [update]))
    assert response.status_code == 200 and response.headers["x-shopify-api-version"] == "2026-10"
    result = adapter.parse(response, [update])
    assert result.ok == ["A"] and not (result.failed or result.retry or result.stale)
    assert sim.store.listings["A"].quantity == 3

    # What main sent, to the retired 2025-01: served as the oldest supported version, which refuses
    # the removed field (and would refuse the missing directive and changeFromQuantity).
    old = [{"inventoryItemId": item(sim, "B"), "locationId": LOC1, "quantity": 9}]
    variables = {
        "input": {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": True,
            "quantities": old,
        }
    }
    response = http.post(
        f"{url}/admin/api/2025-01/graphql.json",
        json={"query": OLD_MUTATION, "variables": variables},
        headers=AUTH,
    )
    assert response.headers["x-shopify-api-version"] == "2026-04"
    (error,) = response.json()["errors"]
    assert error["extensions"]["problems"] == [
        {
            "path": ["ignoreCompareQuantity"],
            "explanation": "Field is not defined on InventorySetQuantitiesInput",
        }
    ]
    assert sim.store.listings["B"].quantity == 5


def test_the_simulator_refuses_what_2026_04_refuses(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 5, "locations": {LOC2: 2}}])
    a, b = item(sim, "A"), item(sim, "B")

    def q(inv: str = a, loc: str = LOC1, qty: int = 4, **extra: Any) -> dict[str, Any]:
        return {"inventoryItemId": inv, "locationId": loc, "quantity": qty, **extra}

    # No @idempotent directive: an error, nothing runs (the shape of that error is unverified).
    response = mutate(http, url, [q(changeFromQuantity=5)], key=None)
    assert "@idempotent" in response.json()["errors"][0]["message"]
    # compareQuantity is removed: a coercion error naming it.
    response = mutate(http, url, [q(compareQuantity=5)], key="k-compare")
    assert response.json()["errors"][0]["extensions"]["problems"][0]["path"] == [
        "quantities",
        0,
        "compareQuantity",
    ]
    # changeFromQuantity left out: refused; more than 250 quantities: refused.
    assert codes(mutate(http, url, [q()], key="k-missing")) == ["COMPARE_QUANTITY_REQUIRED"]
    response = mutate(http, url, [q(changeFromQuantity=5)] * 251, key="k-251")
    assert response.json()["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    # Unknown item, unknown location, a location that does not stock the item.
    ghost = "gid://shopify/InventoryItem/424242"
    assert codes(mutate(http, url, [q(inv=ghost, changeFromQuantity=0)], key="k-ghost")) == [
        "INVALID_INVENTORY_ITEM"
    ]
    assert codes(
        mutate(http, url, [q(loc="gid://shopify/Location/9", changeFromQuantity=5)], key="k-loc")
    ) == ["INVALID_LOCATION"]
    assert codes(mutate(http, url, [q(loc=LOC2, changeFromQuantity=0)], key="k-stock")) == [
        "ITEM_NOT_STOCKED_AT_LOCATION"
    ]
    assert sim.store.listings["A"].quantity == 5 and sim.store.snapshot()["received"] == []

    # A stale compare: that item answers the user error and is not written (nor, here, the other).
    response = mutate(http, url, [q(changeFromQuantity=5), q(inv=b, changeFromQuantity=4)], key="k-stale")
    (stale,) = user_errors(response)
    assert stale["code"] == "CHANGE_FROM_QUANTITY_STALE" and stale["field"][:3] == [
        "input",
        "quantities",
        "1",
    ]
    assert response.json()["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"] is None
    assert sim.store.listings["A"].quantity == 5 and sim.store.listings["B"].quantity == 5

    # An explicit null opts out of the check (allowed), at the second location too.
    response = mutate(
        http, url, [q(changeFromQuantity=None), q(inv=b, loc=LOC2, qty=1, changeFromQuantity=2)], "k-null"
    )
    assert codes(response) == [] and sim.store.listings["A"].quantity == 4
    assert sim.locations.level("B", LOC2) == 1 and sim.store.listings["B"].quantity == 5


def test_the_same_key_replays_and_another_request_under_it_is_refused(
    serve: Serve, http: httpx.Client
) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 5}])
    first = mutate(
        http,
        url,
        [{"inventoryItemId": item(sim, "A"), "locationId": LOC1, "quantity": 3, "changeFromQuantity": 5}],
        "k1",
    )
    assert codes(first) == [] and sim.store.listings["A"].quantity == 3
    assert sim.store.try_sell([("A", 1)]) is not None  # 2 listed now

    # The same request again (a retry after a lost answer): the first answer, nothing written.
    again = mutate(
        http,
        url,
        [{"inventoryItemId": item(sim, "A"), "locationId": LOC1, "quantity": 3, "changeFromQuantity": 5}],
        "k1",
    )
    assert again.json()["data"] == first.json()["data"] and sim.store.listings["A"].quantity == 2
    # Another request under the same key: refused, nothing written (enum 2026-01+:
    # "The same idempotency key cannot be used with different operation parameters").
    other = mutate(
        http,
        url,
        [{"inventoryItemId": item(sim, "A"), "locationId": LOC1, "quantity": 9, "changeFromQuantity": 2}],
        "k1",
    )
    assert codes(other) == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"] and sim.store.listings["A"].quantity == 2
    assert len(sim.store.snapshot()["received"]) == 1


def test_versions_served_and_two_locations_read_apart(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 5, "locations": {LOC2: 7}}])
    query = {"query": "query { productVariants(first: 5) { edges { node { sku inventoryQuantity } } } }"}
    for asked, served in (("2026-07", "2026-07"), ("2025-10", "2026-04"), ("2027-01", "2027-01")):
        response = http.post(f"{url}/admin/api/{asked}/graphql.json", json=query, headers=AUTH)
        assert response.status_code == 200 and response.headers["x-shopify-api-version"] == served
    assert http.post(f"{url}/admin/api/2031-01/graphql.json", json=query, headers=AUTH).status_code == 404
    node = http.post(f"{url}/admin/api/2026-10/graphql.json", json=query, headers=AUTH).json()
    assert node["data"]["productVariants"]["edges"][0]["node"]["inventoryQuantity"] == 12  # both locations

    adapter = ShopifyOutbound()

    async def read(location: str) -> dict[str, int | None]:
        async with httpx.AsyncClient(timeout=10) as client:
            readings, _ = await adapter.read_listed(
                client,
                shopify(url, location_id=location),
                [ListingUpdate("A", 0, 1, {"inventory_item_id": ids["A"]["inventory_item_id"]})],
            )
            return readings

    assert asyncio.run(read(LOC1)) == {"A": 5} and asyncio.run(read(LOC2)) == {"A": 7}


# -- (b) a push computed before a sale on the channel never overwrites that sale --------------------


@pytest.fixture
def start_channel(ray_cluster: None, prefix: str) -> Iterator[Callable[[ChannelConfig], Any]]:
    configs: list[Config] = []

    def start(channel: ChannelConfig) -> Any:
        cfg = Config(store=StoreConfig(key_prefix=prefix), channels=[channel])
        configs.append(cfg)
        return ensure_channels(cfg, REDIS_URL)[channel.id]

    yield start
    for cfg in configs:
        kill_channels(cfg)


def sim_state(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_sim/state", timeout=5).json())


def test_a_push_computed_before_a_channel_sale_never_overwrites_it(
    serve: Serve, start_channel: Callable[[ChannelConfig], Any]
) -> None:
    sim = ShopifySimulator(access_token=TOKEN)
    url = serve(sim.app)
    sim.seed([{"sku": "B", "quantity": 10}, {"sku": "C", "quantity": 4}])
    channel = shopify(url, catalog_page_size=100)
    handle = start_channel(channel)
    wait_until(lambda: ray.get(handle.stats.remote())["catalog_skus"] == 2, "catalog import")

    # Synced: master has 10 at version 1 and the shop lists 10.
    ray.get(handle.notify.remote({"B": {"available": 10, "version": 1, "source": None}}))
    wait_until(lambda: ray.get(handle.status.remote(["B"]))["B"]["synced_version"] == 1, "first sync")

    # Another channel sells 2 (master 8, version 2). Our push of 8 is held on its way in; meanwhile
    # the shop's own shopper takes a unit (9 listed), a sale master has not heard of yet.
    httpx.post(f"{url}/_sim/faults", json={"latency_s": 1.0}, timeout=5).raise_for_status()
    before = sim_state(url)["counters"]["requests"]
    ray.get(handle.notify.remote({"B": {"available": 8, "version": 2, "source": "woo"}}))
    wait_until(lambda: sim_state(url)["counters"]["requests"] > before, "the push to be on its way", 10)
    shopper = {"rate_per_s": 50, "hot_skus": ["B"], "hot_share": 1.0, "max_orders": 1}
    httpx.post(f"{url}/_sim/shoppers", json=shopper, timeout=5).raise_for_status()
    wait_until(lambda: sim_state(url)["sold"] == 1, "the shopper's sale", 5)
    sale_at = sim.store.orders[0].t
    httpx.post(f"{url}/_sim/faults", json={}, timeout=5).raise_for_status()

    # The held push is stale; the actor re-reads 9 and pushes 7 (8 less the unheard sale).
    wait_until(lambda: sim.store.listings["B"].quantity == 7 and ray.get(handle.idle.remote()), "fold-in", 20)
    pushed = [q for _, sku, q in sim_state(url)["received"] if sku == "B"]
    assert 8 not in pushed and pushed[-1] == 7, pushed
    ours = ray.get(handle.stats.remote())
    assert ours["cas_stale"] >= 1 and ours["rereads"] >= 1 and ours["cas_folded_units"] == 1
    assert sim_state(url)["counters"]["stale"] >= 1

    # Master hears of the sale (version 3, this channel's own): the listing is already right.
    ray.get(handle.notify.remote({"B": {"available": 7, "version": 3, "source": "shop", "at": sale_at}}))
    wait_until(lambda: ray.get(handle.status.remote(["B"]))["B"]["synced_version"] == 3, "master hears", 10)
    time.sleep(0.3)
    assert sim.store.listings["B"].quantity == 7 and ray.get(handle.idle.remote())
    assert all(q <= 7 for q in [q for _, sku, q in sim_state(url)["received"] if sku == "B"][1:])
    assert ray.get(handle.stats.remote())["dead_letters"] == 0
