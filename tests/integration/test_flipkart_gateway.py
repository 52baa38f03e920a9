"""Flipkart through the gateway over loopback (real Redis and shard actors): every signed notification
is answered 200, the ones that move nothing too (an unacknowledged event blocks its group), a cancel
reads its shipment from the simulator, and one whose read fails is acknowledged and moves nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from adapters.flipkart.sim.app import FlipkartSimulator
from adapters.flipkart.sim.shipments import signed
from adapters.sim.core import Faults, serve_in_thread
from engine.config import Config
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, new_prefix

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

APP, SECRET = "fk-gw-app", "fk-gw-secret"
ENDPOINT = "https://sync.example.com/webhooks/fk"


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[FlipkartSimulator, str]]:
    simulator = FlipkartSimulator(app_id=APP, app_secret=SECRET, notify_url=ENDPOINT)
    simulator.seed([{"sku": s, "quantity": 10} for s in ("FK1", "FK2")])
    url, stop = serve_in_thread(simulator.app)
    yield simulator, url
    stop()


@pytest.fixture(scope="module")
def gw_config(sim: tuple[FlipkartSimulator, str]) -> Config:
    url = sim[1]
    table = {
        "id": "fk",
        "kind": "flipkart",
        "base_url": url,
        "token_url": f"{url}/oauth-service/oauth/token",
        "app_id": APP,
        "app_secret": SECRET,
        "endpoint_url": ENDPOINT,
    }
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": "admin-token-flipkart-test"},
            "engine": {"shards": 2},
            "channels": [table],
        }
    )


def post(gw: Gw, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gw.url}/webhooks/fk", content=body, headers=headers, timeout=30)


def master(gw: Gw, sku: str) -> int:
    return int((gw.shards.get(sku) or {})["available"])


@pytest.mark.parametrize(
    "event",
    [
        {"eventType": "shipment_packed", "shipmentId": "SHP-X", "attributes": {"status": "PACKED"}},
        {"eventType": "return_created", "shipmentId": "SHP-X", "attributes": {}},
        {"eventType": "shipment_created", "shipmentId": "SHP-X", "attributes": {"orderItems": "?"}},
        {"eventType": "something_new", "source": "flipkart"},
    ],
    ids=["packed", "return", "unreadable sale", "unknown event"],
)
def test_every_signed_notification_is_acknowledged(gw: Gw, event: dict[str, object]) -> None:
    gw.set_stock("FK1", 10)
    before = gw.trace("FK1")
    body, headers = signed(event, APP, SECRET, ENDPOINT, time.time())
    answer = post(gw, body, headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decisions"] == [] and answer.json()["note"] and gw.trace("FK1") == before
    unsigned = {k: v for k, v in headers.items() if k != "X_Authorization"}
    assert post(gw, body, unsigned).status_code == 401


def test_a_sale_then_a_cancel_read_from_the_shipment(gw: Gw, sim: tuple[FlipkartSimulator, str]) -> None:
    simulator, _ = sim
    gw.set_stock("FK1", 10)
    gw.set_stock("FK2", 10)
    placed = simulator.store.try_sell([("FK1", 3), ("FK2", 1)])
    assert placed is not None
    body, headers = simulator.render_webhook(placed)
    assert post(gw, body, headers).status_code == 200
    assert (master(gw, "FK1"), master(gw, "FK2")) == (7, 9)
    shipment = orjson.loads(body)["shipmentId"]
    partial = simulator.cancel(shipment, {"FK1": 2})
    answer = post(gw, *partial)
    assert answer.status_code == 200 and answer.json()["decisions"], answer.text
    assert (master(gw, "FK1"), master(gw, "FK2")) == (9, 9)
    assert post(gw, *partial).json() == answer.json()  # a redelivery: the first answer
    whole = simulator.cancel(shipment)
    assert post(gw, *whole).status_code == 200
    assert (master(gw, "FK1"), master(gw, "FK2")) == (10, 10)


def test_a_cancel_whose_shipment_cannot_be_read_is_acknowledged(
    gw: Gw, sim: tuple[FlipkartSimulator, str]
) -> None:
    simulator, _ = sim
    gw.set_stock("FK1", 10)
    placed = simulator.store.try_sell([("FK1", 2)])
    assert placed is not None
    sold = simulator.render_webhook(placed)
    assert post(gw, *sold).status_code == 200 and master(gw, "FK1") == 8
    shipment = orjson.loads(sold[0])["shipmentId"]
    cancel = simulator.cancel(shipment)
    simulator.faults = Faults(error_rate=1.0)  # every API call answers 500
    try:
        answer = post(gw, *cancel)
    finally:
        simulator.faults = Faults()
    assert answer.status_code == 200 and answer.json()["decisions"] == []
    assert "HTTP 500" in answer.json()["note"] and master(gw, "FK1") == 8  # left to backfill


def test_a_forged_body_under_genuine_headers_takes_only_what_the_shipment_holds(
    gw: Gw, sim: tuple[FlipkartSimulator, str]
) -> None:
    """FKLOGIN does not sign the body: a captured X_Date/X_Authorization pair can carry any body for
    as long as the date is fresh. The sale is decided from the shipment as Flipkart's API returns it,
    so a forged body moves nothing the shipment does not hold."""
    simulator, _ = sim
    gw.set_stock("FK1", 10)
    gw.set_stock("FK2", 10)
    placed = simulator.store.try_sell([("FK1", 1)])
    assert placed is not None
    body, headers = simulator.render_webhook(placed)
    assert post(gw, body, headers).status_code == 200 and master(gw, "FK1") == 9
    genuine = orjson.loads(body)
    forged = genuine | {
        "timestamp": "2030-01-01T00:00:00+05:30",
        "attributes": {
            "updatedAt": "2030-01-01T00:00:00+05:30",
            "orderItems": [{"orderItemId": "x", "sku": "FK2", "quantity": 9, "status": "APPROVED"}],
        },
    }
    answer = post(gw, orjson.dumps(forged), headers)
    assert answer.status_code == 200, answer.text
    assert (master(gw, "FK1"), master(gw, "FK2")) == (9, 10)
    elsewhere = forged | {"shipmentId": "SHP-NO-SUCH-SHIPMENT"}
    answer = post(gw, orjson.dumps(elsewhere), headers)
    assert answer.status_code == 200 and answer.json()["decisions"] == []
    assert (master(gw, "FK1"), master(gw, "FK2")) == (9, 10)
