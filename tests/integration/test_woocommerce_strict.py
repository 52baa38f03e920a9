"""The WooCommerce adapter against the strict simulator over loopback HTTP (no Ray, no Redis):
backfill dates on a store west of UTC, parent-managed and inherited-SKU variations, query-string
credentials, and the simulator's own REST order flows and webhooks (issue 15)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.base import ListingUpdate
from adapters.reading import ReadStats
from adapters.woocommerce.outbound import WooCommerceOutbound
from adapters.woocommerce.reconcile import WooCommerceReconcile
from adapters.woocommerce.sim.app import WooCommerceSimulator
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder
from tests.integration.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

Serve = Callable[[Any], str]
AUTH = ("ck_simulated", "cs_simulated")
T0 = 1_767_272_400.0  # 2026-01-01T13:00:00Z, 08:00 on the simulated site (UTC-5)


async def no_wait(cost: float) -> None:
    return None


def channel(url: str, **extras: Any) -> ChannelConfig:
    return ChannelConfig(
        id="woo",
        kind="woocommerce",
        base_url=url,
        consumer_key="ck_simulated",
        consumer_secret="cs_simulated",
        **extras,
    )


def orders_since(ch: ChannelConfig, since: float) -> list[ChannelOrder]:
    async def run() -> list[ChannelOrder]:
        async with httpx.AsyncClient(timeout=10) as client:
            stats = ReadStats()
            pages = WooCommerceReconcile().orders_since(client, ch, since, no_wait, stats)
            return [o async for page in pages for o in page]

    return asyncio.run(run())


def listed(ch: ChannelConfig) -> dict[str, int]:
    async def run() -> dict[str, int]:
        out: dict[str, int] = {}
        async with httpx.AsyncClient(timeout=10) as client:
            async for page in WooCommerceReconcile().listed_quantities(client, ch, no_wait, ReadStats()):
                out.update(page)
        return out

    return asyncio.run(run())


def catalog(ch: ChannelConfig) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            return await WooCommerceOutbound().import_catalog(client, ch)

    return asyncio.run(run())


def push(
    http: httpx.Client, ch: ChannelConfig, cat: dict[str, dict[str, Any]], quantities: dict[str, int]
) -> None:
    adapter = WooCommerceOutbound()
    for batch in adapter.group([ListingUpdate(s, q, 1, cat[s]) for s, q in quantities.items()]):
        result = adapter.parse(http.send(adapter.build(ch, batch)), batch)
        assert sorted(result.ok) == sorted(u.sku for u in batch), result


# -- backfill dates --------------------------------------------------------------------------------


def test_backfill_on_a_utc_minus_5_site_finds_an_order_the_local_time_query_missed(serve: Serve) -> None:
    now = [T0 + 3600]  # the order is modified an hour after the watermark
    sim = WooCommerceSimulator(clock=lambda: now[0])  # the site is at UTC-5 (the default)
    sim.seed([{"sku": "A", "quantity": 5}])
    url = serve(sim.app)
    order = sim.book.create([("A", 2)], set_paid=True)

    [found] = orders_since(channel(url), T0)

    assert found.order_id == str(order.order_id) and found.lines == (("A", 2),)
    assert found.version == int((T0 + 3600) * 1000) and found.modified == T0 + 3600
    # The same instant without dates_are_gmt is read as site time, five hours later: nothing found.
    with httpx.Client(auth=AUTH) as http:
        naive = http.get(f"{url}/wp-json/wc/v3/orders", params={"modified_after": "2026-01-01T13:00:00"})
        gmt = http.get(
            f"{url}/wp-json/wc/v3/orders",
            params={"modified_after": "2026-01-01T13:00:00", "dates_are_gmt": "true"},
        )
        assert naive.json() == [] and [o["id"] for o in gmt.json()] == [order.order_id]
        row = gmt.json()[0]
        assert (row["date_modified_gmt"], row["date_modified"]) == (
            "2026-01-01T14:00:00",
            "2026-01-01T09:00:00",
        )
        bad = http.get(f"{url}/wp-json/wc/v3/orders", params={"dates_are_gmt": "maybe"})
        assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"


def test_backfill_maps_listed_orders_like_their_webhooks(serve: Serve) -> None:
    ticks = itertools.count(int(T0), 2)
    sim = WooCommerceSimulator(clock=lambda: float(next(ticks)))
    sim.seed([{"sku": "A", "quantity": 9}, {"sku": "B", "quantity": 9}])
    url = serve(sim.app)
    book = sim.book
    pending = book.create([("A", 1)])
    failed = book.create([("A", 1)])
    book.set_status(failed.order_id, "failed")
    refunded = book.create([("A", 2), ("B", 1)], set_paid=True)
    book.refund(refunded.order_id, {refunded.items[0].item_id: 1}, restock=True)
    cancelled = book.create([("B", 3)], set_paid=True)
    book.set_status(cancelled.order_id, "cancelled")

    by_id = {o.order_id: o for o in orders_since(channel(url), T0 - 1)}

    assert by_id[str(pending.order_id)].lines == (("A", 0),)
    assert str(failed.order_id) not in by_id  # failed before payment: nothing to say
    assert by_id[str(refunded.order_id)].lines == (("A", 1), ("B", 1))
    assert by_id[str(cancelled.order_id)].lines == (("B", 0),) and by_id[str(cancelled.order_id)].cancelled
    assert all(o.version is not None for o in by_id.values())


# -- variations ------------------------------------------------------------------------------------


def test_parent_managed_variation_is_read_and_written_through_its_parent(serve: Serve) -> None:
    sim = WooCommerceSimulator()
    seeded = sim.seed(
        [
            {"sku": "TEE-S", "quantity": 7, "group": "TEE", "stock": "parent"},  # the parent keeps the count
            {"sku": "MUG-RED", "quantity": 3, "group": "MUG"},  # a variation with stock of its own
        ]
    )
    url = serve(sim.app)
    ch = channel(url)
    with httpx.Client(auth=AUTH) as http:
        pid = seeded["TEE-S"]["product_id"]
        [variation] = http.get(f"{url}/wp-json/wc/v3/products/{pid}/variations").json()
        assert (variation["manage_stock"], variation["stock_quantity"]) == ("parent", 7)

        cat, before = catalog(ch), listed(ch)
        push(http, ch, cat, {"TEE-S": 4, "MUG-RED": 1})

        assert sim.catalog.splits == []  # manage_stock never switched on for the variation
        assert sim.store.listings["TEE-S"].quantity == 4  # the parent's stock was written
        [variation] = http.get(f"{url}/wp-json/wc/v3/products/{pid}/variations").json()
        assert variation["manage_stock"] == "parent" and variation["stock_quantity"] == 4
    assert cat["TEE-S"] == {"product_id": pid}  # the parent's stock, not the variation
    assert before == {"TEE-S": 7, "MUG-RED": 3}  # read through the parent too
    assert listed(ch) == {"TEE-S": 4, "MUG-RED": 1}


def test_writing_a_parent_managed_variation_splits_the_pool_in_the_simulator(serve: Serve) -> None:
    """What the simulator does with the request a push must never send (core's behaviour)."""
    sim = WooCommerceSimulator()
    seeded = sim.seed([{"sku": "TEE-S", "quantity": 7, "group": "TEE", "stock": "parent"}])
    url = serve(sim.app)
    pid = seeded["TEE-S"]["product_id"]
    vid = sim.catalog.children(pid)[0]
    with httpx.Client(auth=AUTH) as http:
        batch = f"{url}/wp-json/wc/v3/products/{pid}/variations/batch"
        [shadow] = http.post(batch, json={"update": [{"id": vid, "stock_quantity": 2}]}).json()["update"]
        assert shadow["manage_stock"] == "parent" and shadow["stock_quantity"] == 7  # stored, never read
        [split] = http.post(
            batch, json={"update": [{"id": vid, "manage_stock": True, "stock_quantity": 2}]}
        ).json()["update"]
    assert split["manage_stock"] is True and split["stock_quantity"] == 2
    assert sim.catalog.splits == [(pid, vid)] and sim.store.listings["TEE-S"].quantity == 7


def test_variation_with_the_parents_sku_maps_to_the_parent(serve: Serve) -> None:
    sim = WooCommerceSimulator()
    seeded = sim.seed(
        [{"sku": "TEE", "quantity": 6, "group": "T", "stock": "parent", "inherit_sku": True, "variations": 3}]
    )
    url = serve(sim.app)
    ch = channel(url)
    pid = seeded["TEE"]["product_id"]
    with httpx.Client(auth=AUTH) as http:
        rows = http.get(f"{url}/wp-json/wc/v3/products/{pid}/variations").json()
        assert [r["sku"] for r in rows] == ["TEE"] * 3  # each shows its parent's SKU

        cat = catalog(ch)
        push(http, ch, cat, {"TEE": 2})
    assert sim.catalog.splits == [] and sim.store.listings["TEE"].quantity == 2
    assert cat == {"TEE": {"product_id": pid}}
    assert listed(ch) == {"TEE": 2}


def test_variation_without_stock_gets_it_switched_on(serve: Serve) -> None:
    sim = WooCommerceSimulator()
    seeded = sim.seed([{"sku": "CAP-L", "quantity": 0, "group": "CAP", "stock": "none"}])
    url = serve(sim.app)
    ch = channel(url)
    cat = catalog(ch)
    assert cat == seeded and cat["CAP-L"]["enable_stock"] is True and listed(ch) == {}
    with httpx.Client() as http:
        push(http, ch, cat, {"CAP-L": 5})
    assert listed(ch) == {"CAP-L": 5}


# -- credentials -----------------------------------------------------------------------------------


def test_query_string_credentials_for_hosts_that_strip_authorization(serve: Serve) -> None:
    sim = WooCommerceSimulator(strip_authorization=True)
    seeded = sim.seed([{"sku": "A", "quantity": 1}])
    url = serve(sim.app)
    batch = [ListingUpdate("A", 3, 1, seeded["A"])]
    adapter = WooCommerceOutbound()
    with httpx.Client() as http:
        basic = http.send(adapter.build(channel(url), batch))
        assert basic.status_code == 401 and basic.json()["code"] == "woocommerce_rest_cannot_view"

        ch = channel(url, query_string_auth=True)
        request = adapter.build(ch, batch)
        assert "authorization" not in request.headers and request.url.params["consumer_key"] == "ck_simulated"
        assert adapter.parse(http.send(request), batch).ok == ["A"]
    assert catalog(ch) == seeded and listed(ch) == {"A": 3}
    assert [o.order_id for o in orders_since(ch, 0)] == []


# -- the simulator's REST orders and webhooks ------------------------------------------------------


def recorder() -> tuple[Starlette, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        seen.append({"body": await request.json(), "topic": request.headers["x-wc-webhook-topic"]})
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), seen


def test_merchant_rest_flows_move_stock_as_core_and_fire_webhooks(serve: Serve) -> None:
    app, seen = recorder()
    ticks = itertools.count(int(T0), 2)
    sim = WooCommerceSimulator(clock=lambda: float(next(ticks)), webhook_url=f"{serve(app)}/hook")
    sim.seed([{"sku": "A", "quantity": 10}])
    url = serve(sim.app)
    api = f"{url}/wp-json/wc/v3"
    with httpx.Client(auth=AUTH) as http:
        created = http.post(f"{api}/orders", json={"line_items": [{"sku": "A", "quantity": 3}]})
        assert created.status_code == 201 and created.json()["status"] == "pending"
        oid = created.json()["id"]
        assert sim.store.listings["A"].quantity == 10  # pending: nothing reduced

        http.put(f"{api}/orders/{oid}", json={"status": "failed"})
        assert sim.store.listings["A"].quantity == 10
        paid = http.put(f"{api}/orders/{oid}", json={"set_paid": True}).json()
        assert paid["status"] == "processing" and sim.store.listings["A"].quantity == 7
        meta = {m["key"]: m["value"] for m in paid["line_items"][0]["meta_data"]}
        assert meta == {"_reduced_stock": "3"}

        item = paid["line_items"][0]["id"]
        refund = http.post(
            f"{api}/orders/{oid}/refunds",
            json={"line_items": [{"id": item, "quantity": 1}], "api_restock": True},
        )
        assert refund.status_code == 201 and refund.json()["line_items"][0]["quantity"] == -1
        http.post(
            f"{api}/orders/{oid}/refunds",
            json={"line_items": [{"id": item, "quantity": 1}], "api_restock": False},
        )
        assert sim.store.listings["A"].quantity == 8
        order = http.get(f"{api}/orders/{oid}").json()
        assert order["status"] == "processing" and len(order["refunds"]) == 2
        assert {m["key"]: m["value"] for m in order["line_items"][0]["meta_data"]} == {
            "_reduced_stock": "2",
            "_restock_refunded_items": "1",
        }
        over = http.post(f"{api}/orders/{oid}/refunds", json={"line_items": [{"id": item, "quantity": 2}]})
        assert over.status_code == 500  # more than is left to refund

        http.put(f"{api}/orders/{oid}", json={"status": "cancelled"})
        assert sim.store.listings["A"].quantity == 10  # all of _reduced_stock comes back
        assert len(http.get(f"{api}/orders/{oid}/refunds").json()) == 2

    wait_until(lambda: len(sim.deliveries) == 6, "six webhooks")
    assert [d["topic"] for d in sim.deliveries] == ["order.created"] + ["order.updated"] * 5
    assert all(d["ok"] for d in sim.deliveries) and len(seen) == 6
    assert seen[-1]["body"]["status"] == "cancelled"


def test_webhook_is_disabled_after_more_than_five_failures(serve: Serve) -> None:
    async def refuse(request: Request) -> JSONResponse:
        return JSONResponse({"error": "no"}, status_code=500)

    hook = serve(Starlette(routes=[Route("/hook", refuse, methods=["POST"])]))
    sim = WooCommerceSimulator(webhook_url=f"{hook}/hook")
    sim.seed([{"sku": "A", "quantity": 100}])
    url = serve(sim.app)
    with httpx.Client(auth=AUTH) as http:
        for _ in range(9):
            http.post(f"{url}/wp-json/wc/v3/orders", json={"line_items": [{"sku": "A", "quantity": 1}]})
            wait_until(lambda: sim.webhook_disabled or not sim._tasks, "delivery settled")
    # failed_delivery counts six failures, and the seventh disables the webhook
    assert sim.webhook_disabled and len(sim.deliveries) == 7


def test_flows_run_from_the_control_surface_and_fire_core_webhooks(serve: Serve) -> None:
    app, seen = recorder()
    hook = f"{serve(app)}/hook"
    ticks = itertools.count(int(T0), 2)
    sim = WooCommerceSimulator(clock=lambda: float(next(ticks)))
    sim.seed([{"sku": "A", "quantity": 50}, {"sku": "B", "quantity": 50}])
    url = serve(sim.app)
    with httpx.Client(timeout=10) as http:
        body = {"gateway_url": hook, "rate_per_s": 100, "step_gap_s": 0, "seed": 3, "max_flows": 24}
        assert http.post(f"{url}/_sim/flows", json=body).json() == {"started": True}
        wait_until(lambda: not http.get(f"{url}/_sim/flows").json()["running"], "flows done")
        state = http.get(f"{url}/_sim/flows").json()
        assert (
            http.post(f"{url}/_sim/flows", json={"gateway_url": hook, "flows": ["nope"]}).status_code == 400
        )
    assert state["finished"] == state["started"] == 24 and state["deliveries"] == len(seen) == len(
        sim.deliveries
    )
    statuses = {d["body"]["status"] for d in seen}
    assert {"pending", "failed", "processing", "cancelled", "refunded"} <= statuses
    # what core's stock functions left the store at is what the orders still hold
    held: dict[str, int] = {"A": 0, "B": 0}
    for order in sim.book.listed():
        for item in order.items:
            held[item.sku] += item.meta.get("_reduced_stock", 0)
    assert {s: 50 - held[s] for s in held} == {s: sim.store.listings[s].quantity for s in held}
