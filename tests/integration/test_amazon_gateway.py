"""Amazon end to end over loopback: relay-signed notifications through the gateway move master stock
(real Redis, real shard actors), and a channel actor on Ray pushes to the simulator until it converges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import ray

from actors.runtime import ensure_channels, kill_channels
from adapters.amazon.sim.app import AmazonSimulator
from adapters.amazon.sim.orders import AmazonOrder
from adapters.amazon.sim.relay_sender import order_change, quantity_change, signed
from adapters.sim.core import TokenBucket, serve_in_thread
from engine.config import Config
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, listed, new_prefix, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "admin-token-amazon-test"
RELAY = "amazon-relay-secret"
SELLER = "A2SIMSELLER"


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[AmazonSimulator, str]]:
    simulator = AmazonSimulator(seller_id=SELLER, relay_secret=RELAY)
    simulator.seed([{"sku": s, "quantity": 0} for s in ("AZ1", "AZ2", "AZ3")])
    url, stop = serve_in_thread(simulator.app)
    yield simulator, url
    stop()


@pytest.fixture(scope="module")
def gw_config(sim: tuple[AmazonSimulator, str]) -> Config:
    url = sim[1]
    amazon = {
        "id": "amz",
        "kind": "amazon",
        "webhook_secret": RELAY,
        "base_url": url,
        "token_url": f"{url}/auth/o2/token",
        "client_id": "amzn1.application-oa2-client.sim",
        "client_secret": "sim-client-secret",
        "refresh_token": "Atzr|sim-refresh",
        "seller_id": SELLER,
        "marketplace_id": "ATVPDKIKX0DER",
        "product_type": "PRODUCT",
        "retry_base_s": 0.05,
    }
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 2},
            "channels": [amazon],
        }
    )


def post(gw: Gw, notification: dict[str, Any], at: float | None = None) -> httpx.Response:
    body, headers = signed(RELAY, notification, at)
    return httpx.post(f"{gw.url}/webhooks/amz", content=body, headers=headers, timeout=30)


def available(gw: Gw, sku: str) -> int:
    r = httpx.get(f"{gw.url}/v1/skus/{sku}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    return int(r.json()["available"])


def test_an_order_change_moves_master_stock_once_and_a_cancel_returns_it(gw: Gw) -> None:
    gw.set_stock("AZ1", 10)
    t = time.time()
    placed = order_change(
        SELLER, "111-0000001-0000001", "Pending", [{"sku": "AZ1", "quantity": 3}], t, notification_id="nid-1"
    )
    first = post(gw, placed)
    assert first.status_code == 200, first.text
    assert available(gw, "AZ1") == 7
    again = post(gw, placed, at=time.time() + 1)  # the relay delivers the same message again
    assert again.status_code == 200 and again.json()["decisions"] == first.json()["decisions"]
    assert available(gw, "AZ1") == 7
    shipped = order_change(SELLER, "111-0000001-0000001", "Unshipped", [{"sku": "AZ1", "quantity": 3}], t + 1)
    assert post(gw, shipped).status_code == 200 and available(gw, "AZ1") == 7
    cancelled = order_change(
        SELLER, "111-0000001-0000001", "Canceled", [{"sku": "AZ1", "quantity": 3}], t + 2
    )
    assert post(gw, cancelled).status_code == 200 and available(gw, "AZ1") == 10


def test_refusals_change_nothing(gw: Gw) -> None:
    gw.set_stock("AZ2", 4)
    sale = order_change(
        SELLER, "111-0000002-0000002", "Pending", [{"sku": "AZ2", "quantity": 1}], time.time()
    )
    assert post(gw, sale, at=time.time() - 600).status_code == 401  # an old capture
    body, _ = signed("wrong-secret", sale)
    assert (
        httpx.post(
            f"{gw.url}/webhooks/amz", content=body, headers={"Skusync-Signature": "t=1,v1=00"}
        ).status_code
        == 401
    )
    thin = orjson.loads(orjson.dumps(sale))
    del thin["Payload"]["OrderChangeNotification"]["Summary"]
    refused = post(gw, thin)  # an order Amazon does not have: getOrder answers 404
    assert refused.status_code == 400 and "getOrder answered HTTP 404" in refused.json()["error"]
    assert available(gw, "AZ2") == 4
    reported = post(gw, quantity_change(SELLER, "AZ2", 99, time.time()))
    assert reported.status_code == 200 and reported.json()["decisions"][0]["outcome"] == "noted"
    assert available(gw, "AZ2") == 4  # what Amazon lists is never taken as stock


def thin(sim: AmazonSimulator, order: AmazonOrder) -> tuple[bytes, dict[str, str]]:
    """The order's ORDER_CHANGE as the relay forwards it, without ``Summary``."""
    sim.orders[order.order_id] = order
    return sim.notification(order, summary=False)


def deliver(gw: Gw, signed_body: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = signed_body
    return httpx.post(f"{gw.url}/webhooks/amz", content=body, headers=headers, timeout=30)


def test_a_summaryless_change_is_read_through_getorder_and_moves_stock_once(
    gw: Gw, sim: tuple[AmazonSimulator, str]
) -> None:
    simulator = sim[0]
    gw.set_stock("AZ1", 10)
    gw.set_stock("AZ2", 10)
    t = time.time()
    order = AmazonOrder("111-0000003-0000003", [("AZ1", 2), ("AZ2", 1)], t, t, "Unshipped")
    calls = simulator.store.counters.get("calls:getOrder", 0)
    placed = thin(simulator, order)
    first = deliver(gw, placed)
    assert first.status_code == 200, first.text
    assert (available(gw, "AZ1"), available(gw, "AZ2")) == (8, 9)
    again = deliver(gw, placed)  # the relay delivers the same message twice
    assert again.status_code == 200 and again.json()["decisions"] == first.json()["decisions"]
    assert (available(gw, "AZ1"), available(gw, "AZ2")) == (8, 9)
    cancelled = simulator.move(order.order_id, "Canceled", summary=False)
    assert deliver(gw, cancelled).status_code == 200
    assert (available(gw, "AZ1"), available(gw, "AZ2")) == (10, 10)
    assert simulator.store.counters["calls:getOrder"] - calls == 3  # one read per delivery


def test_a_read_throttled_throughout_answers_503_and_the_redelivery_decides(
    gw: Gw, sim: tuple[AmazonSimulator, str]
) -> None:
    simulator = sim[0]
    gw.set_stock("AZ3", 5)
    t = time.time()
    placed = thin(simulator, AmazonOrder("111-0000004-0000004", [("AZ3", 2)], t, t, "Pending"))
    simulator.buckets["getOrder"] = TokenBucket.spent(1e-9)  # the seller's other apps spent it
    try:
        refused = deliver(gw, placed)
    finally:
        simulator.buckets["getOrder"] = TokenBucket(30.0, 0.5)
    assert refused.status_code == 503 and refused.json().get("retry") is True
    assert int(refused.headers["retry-after"]) >= 1  # the relay is told when, not just "failed"
    assert available(gw, "AZ3") == 5
    redelivered = deliver(gw, placed)  # SQS makes the message visible again
    assert redelivered.status_code == 200, redelivered.text
    assert available(gw, "AZ3") == 3


def test_a_channel_actor_pushes_until_the_listing_converges(
    gw: Gw, gw_config: Config, sim: tuple[AmazonSimulator, str]
) -> None:
    simulator, url = sim
    channel = ensure_channels(gw_config, REDIS_URL)["amz"]
    try:
        wait_until(lambda: ray.get(channel.stats.remote())["catalog_skus"] is not None, "catalog import")
        gw.set_stock("AZ3", 6)
        version = int(
            httpx.get(f"{gw.url}/v1/skus/AZ3", headers={"Authorization": f"Bearer {TOKEN}"}).json()["version"]
        )
        ray.get(channel.notify.remote({"AZ3": {"available": 6, "version": version, "source": None}}))
        wait_until(lambda: listed(url).get("AZ3") == 6, "the push of AZ3")
        assert simulator.patches[-1]["productType"] == "PRODUCT"
    finally:
        kill_channels(gw_config)
