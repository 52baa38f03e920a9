"""An eBay delivery that makes the gateway call eBay (an order whose listings it has not mapped)
never stalls the gateway's event loop: other requests are answered while that call waits.

The eBay adapter fetches ``getOrder`` inside ``normalise``, which is synchronous; run on the event
loop, a slow eBay held every other channel's webhooks (and ``/healthz``) for as long as the fetch
took. A proxy in front of the simulator holds ``getOrder`` until the test lets it go, and the test
lets it go only after another request has been answered: on the loop, that request could not be
answered until the fetch ended, and the test fails on its client timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import adapters.ebay.orders as ebay_orders
from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.core import serve_in_thread
from engine.config import Config
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, new_prefix, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN = "admin-token-ebay-off-loop"
ORDER_PATH = "/sell/fulfillment/v1/order/"


class HeldOrders:
    """ASGI wrapper: ``getOrder`` requests wait for ``release`` (counted in ``held``)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app, self.release, self.held = app, threading.Event(), 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ORDER_PATH):
            self.held += 1
            await asyncio.to_thread(self.release.wait, 60)
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[EbaySimulator, HeldOrders, str]]:
    simulator = EbaySimulator()
    simulator.seed([{"sku": "EH1", "quantity": 10}])
    proxy = HeldOrders(simulator.app)
    url, stop = serve_in_thread(proxy)
    yield simulator, proxy, url
    proxy.release.set()
    stop()


@pytest.fixture(scope="module")
def gw_config(sim: tuple[EbaySimulator, HeldOrders, str]) -> Config:
    url = sim[2]
    channel = {
        "id": "ebh",  # its own listing map: nothing learned by other tests in this process
        "kind": "ebay",
        "base_url": url,
        "token_url": f"{url}/identity/v1/oauth2/token",
        "client_id": "sim-client-id",
        "client_secret": "sim-client-secret",
        "refresh_token": "v^1.1#sim-refresh",
    }
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 1},
            "channels": [channel],
        }
    )


def test_other_requests_are_answered_while_ebay_is_called(
    gw: Gw, sim: tuple[EbaySimulator, HeldOrders, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator, proxy, _ = sim
    # The fetch may wait as long as the test holds it: only the release ends it.
    monkeypatch.setattr(ebay_orders, "FETCH_TIMEOUT_S", 60.0)
    gw.set_stock("EH1", 10)
    placed = simulator.store.try_sell([("EH1", 2)])
    assert placed is not None
    body, headers = simulator.render_webhook(placed)
    answers: list[httpx.Response] = []
    delivery = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{gw.url}/webhooks/ebh", content=body, headers=headers, timeout=90)
        )
    )
    delivery.start()
    try:
        wait_until(lambda: proxy.held == 1, "the gateway's getOrder to reach eBay")
        other = httpx.get(f"{gw.url}/v1/skus/EH1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert other.status_code == 200 and other.json()["available"] == 10
        assert delivery.is_alive() and not answers  # the eBay delivery is still waiting on eBay
    finally:
        proxy.release.set()
        delivery.join(timeout=90)
    [answer] = answers
    assert answer.status_code == 200, answer.text
    assert (
        httpx.get(f"{gw.url}/v1/skus/EH1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()[
            "available"
        ]
        == 8
    )
