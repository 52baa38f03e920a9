"""Walmart reads: orders as versioned documents (lines of a SKU summed, cancelled status quantities
off, every unit cancelled as a cancel, the newest statusDate as the version), and the reads against
the simulator over loopback: GET /v3/orders paged by its nextCursor query, GET /v3/inventories
paged, the listed quantity of the channel's ship node; a partial auto-cancel as the adapter reads it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.reading import ReadStats
from adapters.sim.core import SimOrder, serve_in_thread
from adapters.walmart import INBOUND, RECONCILE
from adapters.walmart.orders import channel_order
from adapters.walmart.sim.app import WalmartSimulator
from adapters.walmart.sim.orders import Subscription
from engine.config import ChannelConfig


def listed_line(sku: str, amount: str, status_date: int, cancelled: str = "0") -> dict[str, Any]:
    statuses = [{"status": "Created", "statusQuantity": {"amount": amount}}]
    if cancelled != "0":
        statuses.append({"status": "Cancelled", "statusQuantity": {"amount": cancelled}})
    return {
        "item": {"sku": sku},
        "orderLineQuantity": {"unitOfMeasure": "EACH", "amount": amount},
        "statusDate": status_date,
        "orderLineStatuses": {"orderLineStatus": statuses},
    }


def test_an_order_is_a_versioned_document() -> None:
    lines = [
        listed_line("A", "2", 1_000_500),
        listed_line("A", "1", 1_000_900, "1"),
        listed_line("B", "3", 1_000_100),
    ]
    order = channel_order(
        {"purchaseOrderId": "P1", "orderDate": 1_000_000, "orderLines": {"orderLine": lines}}
    )
    assert order is not None and order.lines == (("A", 2), ("B", 3)) and not order.cancelled
    assert order.version == 1_000_900 and order.at == 1000.0 and order.modified == 1000.9


def test_an_order_cancelled_in_full_is_a_cancel_that_restocks() -> None:
    lines = [listed_line("A", "2", 2_000_000, "2")]
    order = channel_order(
        {"purchaseOrderId": "P2", "orderDate": 1_000_000, "orderLines": {"orderLine": lines}}
    )
    assert order is not None and order.cancelled and order.restock and order.lines == (("A", 0),)


def test_orders_without_an_id_a_date_or_a_sku_are_skipped() -> None:
    line = [listed_line("A", "1", 5)]
    assert channel_order({"orderDate": 1, "orderLines": {"orderLine": line}}) is None
    assert channel_order({"purchaseOrderId": "P", "orderLines": {"orderLine": line}}) is None
    assert channel_order({"purchaseOrderId": "P", "orderDate": 1, "orderLines": {"orderLine": []}}) is None


SUB = Subscription("hmac", "X-Sig", "cs")


@pytest.fixture
def served() -> Iterator[tuple[WalmartSimulator, ChannelConfig]]:
    sim = WalmartSimulator(client_id="cid", client_secret="cs", subscription=SUB, ship_node="77")
    sim.seed([{"sku": f"R{i}", "quantity": 10 + i} for i in range(7)])
    url, stop = serve_in_thread(sim.app)
    keys = {"client_id": "cid", "client_secret": "cs", "ship_node": "77", "reconcile_page_size": 2}
    keys["auth_header_name"] = "X-Sig"
    yield sim, ChannelConfig(id="wm-reads", kind="walmart", base_url=url, webhook_secret="cs", **keys)
    stop()


async def free(cost: float) -> None:
    return None


def test_orders_since_pages_through_the_next_cursor(served: tuple[WalmartSimulator, ChannelConfig]) -> None:
    sim, ch = served
    since = sim.store.clock() - 5
    placed = [sim.store.try_sell([("R0", 1), ("R1", 2)]) for _ in range(5)]
    for order in placed:
        assert order is not None
        sim.render_webhook(order)

    async def run() -> tuple[list[Any], ReadStats]:
        stats = ReadStats()
        async with httpx.AsyncClient(timeout=10) as client:
            pages = RECONCILE.orders_since(client, ch, since, free, stats)
            return [o async for page in pages for o in page], stats

    orders, stats = asyncio.run(run())
    assert sorted(o.order_id for o in orders) == sorted(sim.po_for(o) for o in placed if o is not None)
    assert all(o.lines == (("R0", 1), ("R1", 2)) for o in orders) and stats.calls == 3


def test_listed_quantities_page_through_every_sku(served: tuple[WalmartSimulator, ChannelConfig]) -> None:
    sim, ch = served
    sim.store.try_sell([("R3", 4)])

    async def run() -> tuple[dict[str, int], ReadStats]:
        stats, out = ReadStats(), {}
        async with httpx.AsyncClient(timeout=10) as client:
            async for page in RECONCILE.listed_quantities(client, ch, free, stats):
                out.update(page)
        return out, stats

    listed, stats = asyncio.run(run())
    assert listed == {f"R{i}": 10 + i - (4 if i == 3 else 0) for i in range(7)} and stats.calls == 4


def test_a_partial_auto_cancel_returns_only_the_cancelled_lines_units(
    served: tuple[WalmartSimulator, ChannelConfig],
) -> None:
    sim, ch = served
    sold = sim.store.try_sell([("R5", 2), ("R6", 3)])
    assert isinstance(sold, SimOrder)
    sim.render_webhook(sold)
    body, headers = sim.cancel_lines(sim.po_for(sold), [2])
    INBOUND.verify(ch, {k.lower(): v for k, v in headers.items()}, body)  # signed as subscribed
    [event] = INBOUND.normalise(ch, {}, body).events
    assert event["kind"] == "order_updated"
    assert [(x["sku"], x["quantity"]) for x in event["lines"]] == [("R5", 2), ("R6", 0)]
    assert sim.store.snapshot(lists=False)["listed"]["R6"] == 16  # the cancelled line's units came back
