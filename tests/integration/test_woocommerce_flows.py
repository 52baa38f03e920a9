"""WooCommerce order flows through the whole inbound path: the strict simulator fires the webhooks core
fires to the gateway (signed, over loopback), the shards decide on the real Redis, and master must
end where WooCommerce's own stock functions left the simulator's stock (issue 15)."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.woocommerce.sim.app import WooCommerceSimulator
from adapters.woocommerce.sim.flows import FLOWS, FlowConfig, WooFlows
from tests.integration.support import WOO_SECRET, Gw, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Serve = Callable[[Any], str]
AUTH = ("ck_simulated", "cs_simulated")


def store(gw: Gw, serve: Serve, skus: dict[str, int]) -> tuple[WooCommerceSimulator, str]:
    """A simulated store whose webhooks go to the gateway's ``woo-eu`` channel, and master seeded alike.

    Its clock steps two seconds per change, so successive changes of one order are new versions
    without waiting (WooCommerce dates are to the second).
    """
    ticks = itertools.count(1_767_225_600, 2)
    sim = WooCommerceSimulator(
        webhook_secret=WOO_SECRET,
        webhook_url=f"{gw.url}/webhooks/woo-eu",
        clock=lambda: float(next(ticks)),
        first_order_id=random.randrange(10**6, 10**12),  # order ids of their own on the shared channel
    )
    sim.seed([{"sku": s, "quantity": q} for s, q in skus.items()])
    for sku, qty in skus.items():
        gw.set_stock(sku, qty)
    return sim, serve(sim.app)


def master(gw: Gw, sku: str) -> int | None:
    record = gw.shards.get(sku)
    return None if record is None else int(record["available"])


def delivered(sim: WooCommerceSimulator, n: int) -> Callable[[], bool]:
    return lambda: len(sim.deliveries) >= n and not sim._tasks


def test_failed_then_paid_partial_refunds_and_cancel_through_the_gateway(gw: Gw, serve: Serve) -> None:
    sku = f"WOO-{uuid.uuid4().hex[:8]}"
    sim, url = store(gw, serve, {sku: 10})
    api = f"{url}/wp-json/wc/v3"
    with httpx.Client(auth=AUTH, timeout=10) as http:
        oid = http.post(f"{api}/orders", json={"line_items": [{"sku": sku, "quantity": 3}]}).json()["id"]
        wait_until(delivered(sim, 1), "order.created")
        assert master(gw, sku) == 10  # pending takes nothing

        http.put(f"{api}/orders/{oid}", json={"status": "failed"})
        wait_until(delivered(sim, 2), "failed")
        assert master(gw, sku) == 10

        http.put(f"{api}/orders/{oid}", json={"set_paid": True})  # paid later: a sale, taken once
        wait_until(lambda: master(gw, sku) == 7, "the late payment taken")

        item = http.get(f"{api}/orders/{oid}").json()["line_items"][0]["id"]
        refund = {"line_items": [{"id": item, "quantity": 1}], "api_restock": True}
        http.post(f"{api}/orders/{oid}/refunds", json=refund)
        wait_until(lambda: master(gw, sku) == 8, "the restocked unit back")

        refund["api_restock"] = False
        http.post(f"{api}/orders/{oid}/refunds", json=refund)
        wait_until(delivered(sim, 5), "the refund without restock")
        assert master(gw, sku) == 8 == sim.store.listings[sku].quantity

        http.put(f"{api}/orders/{oid}", json={"status": "cancelled"})
        wait_until(lambda: master(gw, sku) == 10, "the cancel")
    assert all(d["ok"] for d in sim.deliveries)
    assert sim.store.listings[sku].quantity == 10


def test_simulated_shoppers_and_merchant_flows_leave_master_where_woocommerce_is(
    gw: Gw, serve: Serve
) -> None:
    skus = {f"WF-{i}-{uuid.uuid4().hex[:6]}": 40 for i in range(3)}
    sim, _ = store(gw, serve, skus)

    async def run() -> WooFlows:
        config = FlowConfig(gateway_url=f"{gw.url}/webhooks/woo-eu", rate_per_s=200, step_gap_s=0, seed=5)
        flows = WooFlows(sim, config)
        await flows.run(max_flows=4 * len(FLOWS))
        return flows

    flows = asyncio.run(run())

    assert set(flows.stats.by_flow) == set(FLOWS) and flows.stats.finished == flows.stats.started
    assert all(d["ok"] for d in sim.deliveries) and not sim.webhook_disabled
    for sku in skus:
        assert master(gw, sku) == sim.store.listings[sku].quantity, sku
    assert any(master(gw, sku) != 40 for sku in skus)
