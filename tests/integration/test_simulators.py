"""Outbound adapters against the marketplace simulators over real loopback HTTP (no Ray, no Redis)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.base import ListingUpdate
from adapters.shopify.outbound import ShopifyOutbound
from adapters.shopify.sim.app import ShopifySimulator
from adapters.woocommerce.outbound import WooCommerceOutbound
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import ChannelConfig

pytestmark = pytest.mark.timeout(60)

Serve = Callable[[Any], str]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def shopify_channel(url: str, token: str = "shpat_simulated") -> ChannelConfig:
    return ChannelConfig(
        id="shop", kind="shopify", base_url=url, access_token=token, location_id="gid://shopify/Location/1"
    )


def woo_channel(url: str, secret: str = "cs_simulated") -> ChannelConfig:
    return ChannelConfig(
        id="woo", kind="woocommerce", base_url=url, consumer_key="ck_simulated", consumer_secret=secret
    )


def import_catalog(adapter: Any, channel: ChannelConfig) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            result: dict[str, dict[str, Any]] = await adapter.import_catalog(client, channel)
            return result

    return asyncio.run(run())


def updates(catalog: dict[str, dict[str, Any]], quantity: int) -> list[ListingUpdate]:
    return [ListingUpdate(sku, quantity, 1, ids) for sku, ids in catalog.items()]


def signed(secret: str, body: bytes) -> str:
    """Shopify's and WooCommerce's webhook signature, computed independently of the simulators."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def recorder(fail_every: int = 0) -> tuple[Starlette, list[tuple[bytes, dict[str, str]]]]:
    """A stand-in gateway that records raw bodies and headers; every ``fail_every``-th answer is 500."""
    seen: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: Request) -> JSONResponse:
        seen.append((await request.body(), dict(request.headers)))
        failing = fail_every and len(seen) % fail_every == 0
        return JSONResponse({"ok": not failing}, status_code=500 if failing else 200)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), seen


def wait_for_shoppers(http: httpx.Client, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state: dict[str, Any] = http.get(f"{url}/_sim/state").json()
        if not state["shoppers"]["running"]:
            return state
        time.sleep(0.05)
    raise AssertionError("shoppers did not finish")


# -- Shopify ---------------------------------------------------------------------------------------


def test_shopify_catalog_pages_and_push_lands(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(restore_rate=1000.0)
    url = serve(sim.app)
    seeded = http.post(
        f"{url}/_sim/seed", json={"items": [{"sku": f"S{i}", "quantity": 5} for i in range(600)]}
    )
    channel = shopify_channel(url)
    adapter = ShopifyOutbound().for_channel(channel)

    catalog = import_catalog(adapter, channel)
    assert set(catalog) == set(seeded.json()["ids"])  # three pages of 250
    assert catalog["S7"]["inventory_item_id"] == seeded.json()["ids"]["S7"]["inventory_item_id"]

    batch = updates(catalog, 7)[:250]
    response = http.send(adapter.build(channel, batch))
    result = adapter.parse(response, batch)
    assert sorted(result.ok) == sorted(u.sku for u in batch) and not result.failed and not result.retry
    assert result.budget_capacity == 1000 and result.budget_restore_per_s == 1000
    state = http.get(f"{url}/_sim/state").json()
    assert all(state["listed"][u.sku] == 7 for u in batch) and state["listed"]["S599"] == 5
    assert {sku for _, sku, qty in state["received"] if qty == 7} == {u.sku for u in batch}


def test_shopify_unknown_item_fails_it_and_retries_the_rest(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator()
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}])
    channel, adapter = shopify_channel(url), ShopifyOutbound()
    ghost = {"inventory_item_id": "gid://shopify/InventoryItem/424242"}
    batch = [
        ListingUpdate("A", 9, 1, ids["A"], expected=1),
        ListingUpdate("GHOST", 9, 1, ghost, expected=1),
        ListingUpdate("B", 9, 1, ids["B"], expected=1),
    ]

    result = adapter.parse(http.send(adapter.build(channel, batch)), batch)

    assert list(result.failed) == ["GHOST"] and "INVALID_INVENTORY_ITEM" in result.failed["GHOST"]
    assert sorted(result.requeue) == ["A", "B"]  # the call applied nothing: they go again at once
    assert sim.store.snapshot()["listed"] == {"A": 1, "B": 1}


def test_shopify_refuses_bad_token_and_malformed_input(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator()
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}])
    adapter = ShopifyOutbound()
    batch = [ListingUpdate("A", 3, 1, ids["A"])]

    response = http.send(adapter.build(shopify_channel(url, token="wrong"), batch))
    assert response.status_code == 401 and "A" in adapter.parse(response, batch).failed

    graphql = f"{url}/admin/api/2025-01/graphql.json"
    auth = {"X-Shopify-Access-Token": "shpat_simulated"}
    assert http.post(graphql, headers=auth, content=b"{not json").status_code == 400
    assert (
        http.post(f"{url}/admin/api/1999-13/graphql.json", headers=auth, json={"query": "{}"}).status_code
        == 404
    )

    # A quantity that is not an Int: GraphQL coercion error naming the item; nothing runs.
    request = adapter.build(
        shopify_channel(url), [ListingUpdate("A", 3, 1, ids["A"]), ListingUpdate("B", 4, 1, ids["B"])]
    )
    body = request.content.replace(b'"quantity":4', b'"quantity":"four"')
    response = http.post(graphql, headers=auth, content=body)
    assert response.status_code == 200 and response.json()["errors"][0]["extensions"]["problems"]
    result = adapter.parse(response, [ListingUpdate("A", 3, 1, ids["A"]), ListingUpdate("B", 4, 1, ids["B"])])
    assert list(result.failed) == ["B"] and result.retry == ["A"]
    assert sim.store.snapshot()["listed"] == {"A": 1, "B": 1}


def test_shopify_throttles_beyond_the_bucket(serve: Serve, http: httpx.Client) -> None:
    # A shop charging a point per quantity (the published model charges none; see mutation_cost).
    sim = ShopifySimulator(maximum_available=600.0, restore_rate=50.0, mutation_cost_per_quantity=1.0)
    url = serve(sim.app)
    ids = sim.seed([{"sku": f"S{i}", "quantity": 1} for i in range(250)])
    channel, adapter = shopify_channel(url), ShopifyOutbound(cost_per_quantity=1.0)
    batch = [ListingUpdate(sku, 2, 1, i, expected=1) for sku, i in ids.items()]  # 260 points a call

    results = [adapter.parse(http.send(adapter.build(channel, batch)), batch) for _ in range(4)]

    throttled = [r for r in results if r.retry]
    assert results[0].ok and throttled, "two calls fit in 600 points, the later ones must be throttled"
    last = throttled[-1]
    assert sorted(last.retry) == sorted(ids) and not last.ok and not last.failed
    assert last.budget_capacity == 600 and last.budget_restore_per_s == 50
    assert last.budget_available is not None and last.budget_available < 260
    assert last.retry_after_s is not None and 0 < last.retry_after_s <= 260 / 50
    assert http.get(f"{url}/_sim/state?lists=0").json()["counters"]["throttled"] == len(throttled)


def test_shopify_catalog_import_waits_out_throttling(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(maximum_available=300.0, restore_rate=400.0, mutation_cost_per_quantity=1.0)
    url = serve(sim.app)
    ids = sim.seed([{"sku": f"S{i}", "quantity": 1} for i in range(700)])
    channel, adapter = shopify_channel(url), ShopifyOutbound()
    drain = [ListingUpdate(f"S{i}", 0, 1, ids[f"S{i}"]) for i in range(250)]
    http.send(adapter.build(channel, drain))  # leaves ~40 points, below a 252-point page

    catalog = import_catalog(adapter, channel)

    assert len(catalog) == 700
    assert sim.store.snapshot(lists=False)["counters"]["throttled"] >= 1


def test_shopify_rest_orders_bucket_answers_429(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator(rest_bucket=(2.0, 0.5), legacy_rest_orders=True)  # an app from before 2025-04
    url = serve(sim.app)
    orders = f"{url}/admin/api/2025-01/orders.json?status=any&limit=250"
    auth = {"X-Shopify-Access-Token": "shpat_simulated"}
    answers = [http.get(orders, headers=auth) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert (
        float(answers[2].headers["retry-after"]) >= 1
        and "x-shopify-shop-api-call-limit" in answers[2].headers
    )


# -- WooCommerce -----------------------------------------------------------------------------------


def test_woo_catalog_finds_variations_and_push_lands(serve: Serve, http: httpx.Client) -> None:
    sim = WooCommerceSimulator()
    url = serve(sim.app)
    items = [{"sku": f"W{i}", "quantity": 5} for i in range(130)]
    items += [{"sku": f"V{i}", "quantity": 3, "group": f"T{i % 4}"} for i in range(220)]
    seeded = http.post(f"{url}/_sim/seed", json={"items": items}).json()["ids"]
    channel = woo_channel(url)
    adapter = WooCommerceOutbound().for_channel(channel)

    catalog = import_catalog(adapter, channel)
    assert catalog == seeded  # 134 products over two pages, 55 variations per parent over one page
    assert "T0" not in catalog  # the variable parent's own SKU carries no stock

    batches = adapter.group(updates(catalog, 9))
    assert len(batches) == 2 + 4 and all(len(b) <= 100 for b in batches)
    for batch in batches:
        result = adapter.parse(http.send(adapter.build(channel, batch)), batch)
        assert sorted(result.ok) == sorted(u.sku for u in batch) and not result.failed and not result.retry
    state = http.get(f"{url}/_sim/state").json()
    assert set(state["listed"].values()) == {9} and len(state["received"]) == 350


def test_woo_refuses_bad_credentials_unknown_ids_and_oversize(serve: Serve, http: httpx.Client) -> None:
    sim = WooCommerceSimulator()
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}])
    adapter = WooCommerceOutbound()
    batch = [ListingUpdate("A", 4, 1, ids["A"]), ListingUpdate("GHOST", 4, 1, {"product_id": 999_999})]

    response = http.send(adapter.build(woo_channel(url, secret="nope"), batch))
    assert response.status_code == 401 and set(adapter.parse(response, batch).failed) == {"A", "GHOST"}

    result = adapter.parse(http.send(adapter.build(woo_channel(url), batch)), batch)
    assert result.ok == ["A"] and "woocommerce_rest_product_invalid_id" in result.failed["GHOST"]

    too_many = [ListingUpdate(f"X{i}", 1, 1, {"product_id": i + 1}) for i in range(101)]
    response = http.send(WooCommerceOutbound(max_batch=500).build(woo_channel(url), too_many))
    assert response.status_code == 413 and len(adapter.parse(response, too_many).failed) == 101
    bad_json = http.post(
        f"{url}/wp-json/wc/v3/products/batch", content=b"{", auth=("ck_simulated", "cs_simulated")
    )
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "rest_invalid_json"


def test_woo_rate_limit_answers_429_with_retry_after(serve: Serve, http: httpx.Client) -> None:
    sim = WooCommerceSimulator(rate_limit=(1.0, 2.0))
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 1}])
    channel, adapter = woo_channel(url), WooCommerceOutbound()
    batch = [ListingUpdate("A", 2, 1, ids["A"])]

    results = [adapter.parse(http.send(adapter.build(channel, batch)), batch) for _ in range(4)]

    assert results[0].ok == ["A"] and results[-1].retry == ["A"]
    assert results[-1].retry_after_s is not None and results[-1].retry_after_s >= 1
    assert http.get(f"{url}/_sim/state?lists=0").json()["counters"]["throttled"] >= 2


# -- faults ----------------------------------------------------------------------------------------


def test_injected_faults_are_visible_to_the_client(serve: Serve, http: httpx.Client) -> None:
    sim = WooCommerceSimulator()
    url = serve(sim.app)
    ids = sim.seed([{"sku": "A", "quantity": 1}])
    channel, adapter = woo_channel(url), WooCommerceOutbound()

    def push(quantity: int, timeout: float = 5) -> httpx.Response:
        request = adapter.build(channel, [ListingUpdate("A", quantity, 1, ids["A"])])
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        return http.send(request)

    http.post(f"{url}/_sim/faults", json={"error_rate": 1.0})
    response = push(2)
    assert response.status_code == 500 and adapter.parse(
        response, [ListingUpdate("A", 2, 1, ids["A"])]
    ).retry == ["A"]
    assert sim.store.listings["A"].quantity == 1  # an injected error applies nothing

    http.post(f"{url}/_sim/faults", json={"reset_after_apply_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        push(3)
    assert sim.store.listings["A"].quantity == 3  # applied, yet the client never heard

    http.post(f"{url}/_sim/faults", json={"timeout_rate": 1.0, "timeout_hold_s": 0.6})
    with pytest.raises(httpx.TimeoutException):
        push(4, timeout=0.2)
    time.sleep(0.6)
    assert sim.store.listings["A"].quantity == 3

    http.post(f"{url}/_sim/faults", json={})
    assert push(5).status_code == 200 and sim.store.listings["A"].quantity == 5
    counters = http.get(f"{url}/_sim/state?lists=0").json()["counters"]
    assert (counters["errors"], counters["resets"], counters["timeouts"]) == (1, 1, 1)


# -- shoppers and webhooks -------------------------------------------------------------------------


def test_shopify_shoppers_refuse_beyond_listing_and_sign_webhooks(serve: Serve, http: httpx.Client) -> None:
    gateway, seen = recorder()
    hook = f"{serve(gateway)}/hook"
    sim = ShopifySimulator(webhook_secret="s3cret")
    url = serve(sim.app)
    sim.seed([{"sku": "HOT", "quantity": 3}, {"sku": "COLD", "quantity": 0}])

    started = http.post(
        f"{url}/_sim/shoppers",
        json={"gateway_url": hook, "rate_per_s": 400, "hot_skus": ["HOT"], "max_orders": 40, "seed": 7},
    )
    assert started.json() == {"started": True}
    state = wait_for_shoppers(http, url)

    assert state["listed"] == {"HOT": 0, "COLD": 0} and state["sold"] == 3
    assert state["shoppers"]["offered"] == 40 and state["refused_count"] == 40 - len(state["sales"])
    assert len(seen) == len(state["sales"]) and all(o["delivered"] for o in state["sales"])
    for body, headers in seen:
        assert hmac.compare_digest(headers["x-shopify-hmac-sha256"], signed("s3cret", body))
        assert headers["x-shopify-topic"] == "orders/create" and headers["x-shopify-shop-domain"]
        assert (
            headers["x-shopify-api-version"]
            and headers["x-shopify-triggered-at"]
            and headers["x-shopify-webhook-id"]
        )
    assert len({h["x-shopify-event-id"] for _, h in seen}) == len(seen)
    line = orjson.loads(seen[0][0])["line_items"][0]
    assert line["sku"] == "HOT" and line["variant_id"] and line["quantity"] == line["current_quantity"] >= 1


def test_woo_shoppers_record_failed_deliveries_for_reconciliation(serve: Serve, http: httpx.Client) -> None:
    gateway, seen = recorder(fail_every=2)
    hook = f"{serve(gateway)}/hook"
    sim = WooCommerceSimulator(webhook_secret="w&amp;secret")  # WooCommerce decodes HTML entities first
    url = serve(sim.app)
    sim.seed([{"sku": "TEE-S", "quantity": 6, "group": "TEE"}, {"sku": "MUG", "quantity": 4}])

    http.post(
        f"{url}/_sim/shoppers", json={"gateway_url": hook, "rate_per_s": 300, "max_orders": 30, "seed": 3}
    )
    state = wait_for_shoppers(http, url)

    assert state["sold"] == 10 and state["listed"] == {"TEE-S": 0, "MUG": 0} and state["refused_count"] > 0
    assert len(seen) == len(state["sales"]) and len(state["undelivered"]) == len(seen) // 2
    for body, headers in seen:
        assert hmac.compare_digest(headers["x-wc-webhook-signature"], signed("w&secret", body))
        assert (
            headers["x-wc-webhook-topic"],
            headers["x-wc-webhook-resource"],
            headers["x-wc-webhook-event"],
        ) == (
            "order.created",
            "order",
            "created",
        )
        assert (
            headers["x-wc-webhook-source"]
            and headers["x-wc-webhook-id"]
            and headers["x-wc-webhook-delivery-id"]
        )
    orders = http.get(
        f"{url}/wp-json/wc/v3/orders?modified_after=2000-01-01T00:00:00&per_page=100&page=1",
        auth=("ck_simulated", "cs_simulated"),
    )
    assert len(orders.json()) == len(state["sales"]) and orders.headers["x-wp-totalpages"] == "1"
    variation_line = next(line for o in orders.json() for line in o["line_items"] if line["sku"] == "TEE-S")
    assert (
        variation_line["variation_id"]
        and variation_line["product_id"]
        and orders.json()[0]["status"] == "processing"
    )


def test_manual_order_without_webhook_is_recorded_as_undelivered(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator()
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 2}])
    placed = http.post(f"{url}/_sim/orders", json={"lines": [{"sku": "A", "quantity": 2}]})
    assert placed.status_code == 200 and placed.json()["delivered"] is False
    assert http.post(f"{url}/_sim/orders", json={"lines": [{"sku": "A", "quantity": 1}]}).status_code == 409
    state = http.get(f"{url}/_sim/state").json()
    assert state["undelivered"] == [placed.json()["order_id"]] and state["listed"] == {"A": 0}
