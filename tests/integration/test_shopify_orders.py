"""Shopify orders after checkout, end to end over loopback: the simulated shop's merchants edit, refund
and cancel orders, the shop fires the webhooks Shopify fires, the gateway decides them, and master
follows what the shop itself restocked. Backfill reads the same documents through the GraphQL
``orders`` connection when webhooks were lost.

One gateway (two shard actors, the real Redis) serves the module; each test has its own SKUs and a
simulated shop of its own. Every wait is on a condition (master's count), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.base import adapter_for
from adapters.reading import ReadStats
from adapters.shopify.sim.app import ShopifySimulator
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder, backfill_events
from tests.integration.support import SHOP_SECRET, Gw, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "shpat_orders_test"


@dataclass
class Shop:
    sim: ShopifySimulator
    url: str
    hook: str
    gw: Gw

    def sell(self, lines: dict[str, int], deliver: bool = True) -> int:
        body: dict[str, Any] = {"lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}
        if deliver:
            body["gateway_url"] = self.hook
        answer = httpx.post(f"{self.url}/_sim/orders", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        order_id: int = answer.json()["order_id"]
        return order_id

    def act(self, order_id: int, action: str, deliver: bool = True, **body: Any) -> list[dict[str, Any]]:
        if deliver:
            body["gateway_url"] = self.hook
        answer = httpx.post(f"{self.url}/_sim/orders/{order_id}/{action}", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
        assert all(d["delivered"] for d in deliveries) or not deliver, deliveries
        return deliveries

    def listed(self, sku: str) -> int:
        return self.sim.store.listings[sku].quantity

    def channel(self) -> ChannelConfig:
        return ChannelConfig(id="shop-us", kind="shopify", base_url=self.url, access_token=TOKEN)


@pytest.fixture
def shop(serve: Callable[[Any], str], gw: Gw) -> Shop:
    sim = ShopifySimulator(access_token=TOKEN, webhook_secret=SHOP_SECRET)
    return Shop(sim, serve(sim.app), f"{gw.url}/webhooks/shop-us", gw)


def stocked(shop: Shop, **stock: int) -> dict[str, str]:
    """SKUs of this test (fresh names) with ``stock`` units in master and in the shop's listing."""
    names = {alias: f"{alias}-{uuid.uuid4().hex[:8]}" for alias in stock}
    shop.sim.seed([{"sku": names[a], "quantity": q} for a, q in stock.items()])
    for alias, quantity in stock.items():
        shop.gw.set_stock(names[alias], quantity)
    return names


def master(gw: Gw, sku: str) -> int:
    record = gw.shards.get(sku)
    assert record is not None
    return int(record["available"])


def settles(gw: Gw, expected: dict[str, int]) -> None:
    wait_until(lambda: {sku: master(gw, sku) for sku in expected} == expected, f"master at {expected}")


def test_an_edit_lowering_a_quantity_returns_the_difference(shop: Shop) -> None:
    sku = stocked(shop, A=10)["A"]
    order = shop.sell({sku: 4})
    settles(shop.gw, {sku: 6})
    topics = [d["topic"] for d in shop.act(order, "edit", sku=sku, quantity=1, restock=True)]
    assert topics == ["orders/edited", "orders/updated"]
    settles(shop.gw, {sku: 9})
    assert shop.listed(sku) == 9  # the shop restocked the 3 units too


def test_a_removed_line_returns_its_units(shop: Shop) -> None:
    skus = stocked(shop, A=10, B=10)
    order = shop.sell({skus["A"]: 2, skus["B"]: 3})
    settles(shop.gw, {skus["A"]: 8, skus["B"]: 7})
    shop.act(order, "edit", sku=skus["B"], quantity=0, restock=True)
    settles(shop.gw, {skus["A"]: 8, skus["B"]: 10})
    line = httpx.get(f"{shop.url}/_sim/orders/{order}", timeout=10).json()["order"]["line_items"][1]
    assert (line["quantity"], line["current_quantity"]) == (3, 0)  # Shopify keeps the removed line


@pytest.mark.parametrize(("restock_type", "after"), [("cancel", 8), ("return", 8), ("no_restock", 7)])
def test_a_refund_returns_units_only_when_it_restocks(shop: Shop, restock_type: str, after: int) -> None:
    sku = stocked(shop, A=10)["A"]
    order = shop.sell({sku: 3})
    settles(shop.gw, {sku: 7})
    sent = shop.act(order, "refund", lines=[{"sku": sku, "quantity": 1}], restock_type=restock_type)
    assert [d["topic"] for d in sent] == ["refunds/create", "orders/updated"]
    assert sent[0]["decisions"] == []  # the refund body is noted; the order body decides
    settles(shop.gw, {sku: after})
    assert shop.listed(sku) == after


@pytest.mark.parametrize(("restock", "after"), [(False, (7, 8)), (True, (10, 10))])
def test_a_cancel_returns_what_the_order_held_only_when_it_restocks(
    shop: Shop, restock: bool, after: tuple[int, int]
) -> None:
    skus = stocked(shop, A=10, B=10)
    order = shop.sell({skus["A"]: 3, skus["B"]: 2})
    settles(shop.gw, {skus["A"]: 7, skus["B"]: 8})
    sent = shop.act(order, "cancel", restock=restock)
    assert [d["topic"] for d in sent] == ["orders/cancelled", "orders/updated", "refunds/create"]
    cancel = sent[0]["decisions"][1]
    assert cancel["kind"] == "order_cancelled" and cancel["outcome"] == "applied"
    expected = {skus["A"]: after[0], skus["B"]: after[1]}
    settles(shop.gw, expected)
    assert {s: shop.listed(s) for s in expected} == expected


def test_a_cancel_after_a_partial_refund_returns_only_what_is_left(shop: Shop) -> None:
    sku = stocked(shop, A=10)["A"]
    order = shop.sell({sku: 4})
    shop.act(order, "refund", deliver=False, lines=[{"sku": sku, "quantity": 1}], restock_type="no_restock")
    shop.act(order, "cancel", restock=True)  # its body carries the refund whose webhooks were lost
    settles(shop.gw, {sku: 9})
    assert shop.listed(sku) == 9


def test_two_orders_of_one_merchant_action_never_collide_on_their_key(shop: Shop) -> None:
    sku = stocked(shop, A=10)["A"]
    first, second = shop.sell({sku: 2}), shop.sell({sku: 3})
    settles(shop.gw, {sku: 5})
    answer = httpx.post(
        f"{shop.url}/_sim/bulk/cancel",
        json={"order_ids": [first, second], "restock": True, "gateway_url": shop.hook},
        timeout=30,
    ).json()
    assert len({d["event_id"] for d in answer["deliveries"]}) == 1  # one action, one event id
    keys = [dec["key"] for d in answer["deliveries"] for dec in d["decisions"]]
    assert len(keys) == len(set(keys)) and "conflict" not in {
        dec["outcome"] for d in answer["deliveries"] for dec in d["decisions"]
    }
    settles(shop.gw, {sku: 10})


def read_orders(channel: ChannelConfig, since: float) -> tuple[list[ChannelOrder], ReadStats]:
    async def run() -> tuple[list[ChannelOrder], ReadStats]:
        stats = ReadStats()

        async def free(cost: float) -> None:
            return None

        async with httpx.AsyncClient(timeout=10) as client:
            adapter = adapter_for("shopify").RECONCILE
            found = [
                o async for page in adapter.orders_since(client, channel, since, free, stats) for o in page
            ]
        return found, stats

    return asyncio.run(run())


def test_backfill_finds_a_dropped_order_and_reads_current_quantity(shop: Shop) -> None:
    """orders/create and the edit's webhooks are lost: the GraphQL orders connection still has the
    order, at its current quantities; the webhook of a later refund then moves only the difference."""
    skus = stocked(shop, A=10, B=10)
    seen = shop.sell({skus["A"]: 1})
    lost = shop.sell({skus["A"]: 3, skus["B"]: 2}, deliver=False)
    shop.act(lost, "edit", deliver=False, sku=skus["A"], quantity=1, restock=True)
    settles(shop.gw, {skus["A"]: 9, skus["B"]: 10})
    orders, stats = read_orders(shop.channel(), 0.0)
    assert {o.order_id for o in orders} == {str(seen), str(lost)} and stats.calls >= 1
    [listed] = [o for o in orders if o.order_id == str(lost)]
    assert (listed.lines, listed.kept) == (((skus["A"], 1), (skus["B"], 2)), (0, 0))
    decisions, _ = shop.gw.shards.submit(backfill_events("shop-us", orders))
    assert sorted(d["outcome"] for d in decisions) == ["applied", "duplicate_order"]
    settles(shop.gw, {skus["A"]: 8, skus["B"]: 8})
    shop.act(lost, "refund", lines=[{"sku": skus["B"], "quantity": 2}], restock_type="cancel")
    settles(shop.gw, {skus["A"]: 8, skus["B"]: 10})
    assert {s: shop.listed(s) for s in skus.values()} == {skus["A"]: 8, skus["B"]: 10}
