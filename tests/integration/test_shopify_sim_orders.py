"""The simulated Shopify shop's order side over loopback HTTP (no Ray, no Redis): REST orders refused to
new apps, the GraphQL orders connection (paging, cost, the 60-day window), and merchants whose edits,
cancels and refunds fire Shopify's webhooks and move the shop's own inventory as Shopify would."""

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

from adapters.base import adapter_for
from adapters.reading import ReadStats
from adapters.shopify.orders_read import ORDERS, page_cost
from adapters.shopify.sim.app import ShopifySimulator
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

pytestmark = pytest.mark.timeout(60)

Serve = Callable[[Any], str]
AUTH = {"X-Shopify-Access-Token": "shpat_simulated"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def orders_page(http: httpx.Client, url: str, after: str | None = None, first: int = 2, **nested: int) -> Any:
    variables = {"first": first, "after": after, "query": "updated_at:>='1970-01-01T00:00:00Z'"}
    variables |= {"lines": 5, "refunds": 2, "refundLines": 5} | nested
    answer = http.post(
        f"{url}/admin/api/2025-01/graphql.json", json={"query": ORDERS, "variables": variables}, headers=AUTH
    )
    assert answer.status_code == 200
    return answer.json()


def all_ids(http: httpx.Client, url: str) -> list[str]:
    ids, after = [], None
    while True:
        body = orders_page(http, url, after)
        connection = body["data"]["orders"]
        ids += [n["legacyResourceId"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return ids
        after = connection["pageInfo"]["endCursor"]


def test_rest_orders_are_refused_to_new_apps(serve: Serve, http: httpx.Client) -> None:
    url = serve(ShopifySimulator().app)
    answer = http.get(f"{url}/admin/api/2025-01/orders.json?status=any", headers=AUTH)
    assert answer.status_code == 403 and "GraphQL" in answer.json()["errors"]


def test_orders_connection_pages_by_updated_at_and_hides_orders_older_than_60_days(
    serve: Serve, http: httpx.Client
) -> None:
    sim = ShopifySimulator()
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 50}])
    sold = [sim.store.try_sell([("A", 1)]) for _ in range(5)]
    assert all(sold)
    ids = [str(o.order_id) for o in sold if o]
    assert all_ids(http, url) == ids
    sim.book.edit(int(ids[0]), "A", 0, True)  # an edit moves the order to the end (sortKey UPDATED_AT)
    assert all_ids(http, url) == [*ids[1:], ids[0]]
    sim.book.backdate(int(ids[2]), 61 * 86400)
    assert ids[2] not in all_ids(http, url)
    sim.read_all_orders = True  # the read_all_orders scope
    assert ids[2] in all_ids(http, url)
    body = orders_page(http, url)
    cost = body["extensions"]["cost"]
    assert (
        cost["requestedQueryCost"] == page_cost(2, 5, 2, 5)
        and cost["actualQueryCost"] < cost["requestedQueryCost"]
    )
    node = body["data"]["orders"]["nodes"][0]
    assert (
        node["lineItems"]["nodes"][0] | {"sku": "A", "quantity": 1, "currentQuantity": 1}
        == node["lineItems"]["nodes"][0]
    )
    too_dear = orders_page(http, url, first=250, lines=250)
    assert too_dear["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_refunds_and_cancels_read_back_with_their_restock_types(serve: Serve, http: httpx.Client) -> None:
    sim = ShopifySimulator()
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 10}])
    order = sim.store.try_sell([("A", 3), ("B", 2)])
    assert order is not None
    sim.book.refund(order.order_id, [("A", 1)], "no_restock")
    sim.book.cancel(order.order_id, True)
    node = orders_page(http, url)["data"]["orders"]["nodes"][0]
    assert node["cancelledAt"] and [i["currentQuantity"] for i in node["lineItems"]["nodes"]] == [0, 0]
    types = [[r["restockType"] for r in refund["refundLineItems"]["nodes"]] for refund in node["refunds"]]
    assert types == [["NO_RESTOCK"], ["CANCEL", "CANCEL"]]
    assert {s: item.quantity for s, item in sim.store.listings.items()} == {"A": 9, "B": 10}
    refused = http.post(
        f"{url}/_sim/orders/{order.order_id}/refund",
        json={"lines": [{"sku": "A", "quantity": 1}], "restock_type": "legacy_restock"},
    )
    assert refused.status_code == 409  # not accepted on new refunds


def recorder() -> tuple[Starlette, list[tuple[bytes, dict[str, str]]]]:
    seen: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: Request) -> JSONResponse:
        seen.append((await request.body(), dict(request.headers)))
        return JSONResponse({"decisions": []})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), seen


TOPICS = {
    "lower": ["orders/edited", "orders/updated"],
    "remove": ["orders/edited", "orders/updated"],
    "cancel_restock": ["orders/cancelled", "orders/updated", "refunds/create"],
    "cancel_no_restock": ["orders/cancelled", "orders/updated", "refunds/create"],
    "refund_restock": ["refunds/create", "orders/updated"],
    "refund_no_restock": ["refunds/create", "orders/updated"],
}


def test_merchants_fire_shopifys_webhooks_and_move_the_shops_inventory(
    serve: Serve, http: httpx.Client
) -> None:
    gateway, seen = recorder()
    hook = f"{serve(gateway)}/hook"
    sim = ShopifySimulator(webhook_secret="s3cret")
    url = serve(sim.app)
    sim.seed([{"sku": "A", "quantity": 100}, {"sku": "B", "quantity": 100}])
    for i in range(30):
        assert sim.store.try_sell([("A", 1 + i % 3), ("B", 2)]) is not None
    started = http.post(
        f"{url}/_sim/merchants", json={"gateway_url": hook, "rate_per_s": 500, "seed": 4, "max_actions": 40}
    )
    assert started.json() == {"started": True}
    deadline = time.monotonic() + 20
    while sim.merchants is not None and sim.merchants.stats()["running"]:
        assert time.monotonic() < deadline, "merchants did not finish"
        time.sleep(0.02)
    assert sim.merchants is not None
    actions = sim.merchants.actions
    assert len(actions) == 40 and all(n > 0 for n in sim.merchants.stats()["by_action"].values())
    for name, _, deliveries in actions:
        assert [d.topic for d in deliveries] == TOPICS[name]
        assert len({d.headers["X-Shopify-Event-Id"] for d in deliveries}) == 1 and all(
            d.delivered for d in deliveries
        )
    assert len(seen) == sum(len(d) for _, _, d in actions)
    for body, headers in seen:
        digest = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(headers["x-shopify-hmac-sha256"], digest)
    # Shopify's inventory: what was sold, less what went back (restocking refunds, restocked edits)
    for sku in ("A", "B"):
        held = kept = 0
        for state in sim.book.all_states():
            items = {i.id: i for i in state.line_items if i.sku == sku}
            held += sum(i.current for i in items.values())
            kept += sum(
                r.quantity
                for f in state.refunds
                for r in f.lines
                if r.line_item_id in items and r.restock_type == "no_restock"
            )
        assert sim.store.listings[sku].quantity == 100 - held - kept
    last = orjson.loads(seen[-1][0])
    assert "line_items" in last or "refund_line_items" in last


def test_backfill_reads_orders_larger_than_a_page_whole(serve: Serve) -> None:
    """7 lines (5 per page), 3 refunds (2 per page), a refund of 6 lines (5 per page): the reader goes
    back for the rest, so the document is the order's, not a page's."""
    sim = ShopifySimulator(access_token="tok")
    url = serve(sim.app)
    skus = [f"L{i}" for i in range(7)]
    sim.seed([{"sku": s, "quantity": 10} for s in skus])
    order = sim.store.try_sell([(s, 3) for s in skus])
    assert order is not None
    sim.book.refund(order.order_id, [(s, 1) for s in skus[:6]], "no_restock")  # 6 refund lines
    sim.book.refund(order.order_id, [("L6", 1)], "cancel")
    sim.book.refund(order.order_id, [("L6", 1)], "no_restock")
    sim.book.edit(order.order_id, "L5", 0, True)
    channel = ChannelConfig(id="shop", kind="shopify", base_url=url, access_token="tok")
    stats = ReadStats()

    async def read() -> list[ChannelOrder]:
        async def free(cost: float) -> None:
            return None

        async with httpx.AsyncClient(timeout=10) as client:
            adapter = adapter_for("shopify").RECONCILE
            return [o async for page in adapter.orders_since(client, channel, 0.0, free, stats) for o in page]

    [listed] = asyncio.run(read())
    assert listed.lines == (*((s, 2) for s in skus[:5]), ("L5", 0), ("L6", 1))
    assert listed.kept == (1, 1, 1, 1, 1, 1, 1)
    assert stats.calls == 1 + 1 + 1 + 3  # the page, the other lines, the refund ids, each refund's lines
