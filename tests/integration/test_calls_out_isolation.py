"""One channel's slow marketplace holds only its own deliveries: a flood of thin notifications
waiting on their fetches from one eBay account must not hold another account's.

Decoding that calls the marketplace runs on worker threads (``calls_out``). With one pool for every
channel (asyncio's default: six or seven threads here), channel A's deliveries whose ``getOrder``
eBay holds took every thread, and channel B's delivery waited for A's fetches to end. Each channel
now has its own threads (``InboundRoute.workers``): B is answered while A's wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

import adapters.ebay.orders as ebay_orders
from actors.gateway.app import CALLS_OUT_THREADS
from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.core import serve_in_thread
from engine.config import Config
from tests.conftest import REDIS_URL
from tests.integration.support import Gw, new_prefix, wait_until
from tests.integration.test_ebay_gateway_off_loop import HeldOrders

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TOKEN = "admin-token-calls-out-isolation"
FLOOD = 2 * CALLS_OUT_THREADS
"""More of channel A's deliveries than its threads (and than asyncio's default pool on 2-4 cores)."""


def ebay_channel(channel_id: str, url: str) -> dict[str, str]:
    return {
        "id": channel_id,
        "kind": "ebay",
        "base_url": url,
        "token_url": f"{url}/identity/v1/oauth2/token",
        "client_id": "sim-client-id",
        "client_secret": "sim-client-secret",
        "refresh_token": "v^1.1#sim-refresh",
    }


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[EbaySimulator, HeldOrders, str, EbaySimulator, str]]:
    held_sim, free_sim = EbaySimulator(), EbaySimulator()
    held_sim.seed([{"sku": f"ISO-A{i}", "quantity": 100} for i in range(FLOOD + 1)])
    free_sim.seed([{"sku": "ISO-B", "quantity": 100}])
    proxy = HeldOrders(held_sim.app)
    proxy.release.set()  # until the test has warmed channel A's signing key
    held_url, stop_held = serve_in_thread(proxy)
    free_url, stop_free = serve_in_thread(free_sim.app)
    yield held_sim, proxy, held_url, free_sim, free_url
    proxy.release.set()
    stop_held()
    stop_free()


@pytest.fixture(scope="module")
def gw_config(sims: tuple[EbaySimulator, HeldOrders, str, EbaySimulator, str]) -> Config:
    _, _, held_url, _, free_url = sims
    return Config.model_validate(
        {
            "store": {"redis_url": REDIS_URL, "key_prefix": new_prefix()},
            "gateway": {"admin_token": TOKEN},
            "engine": {"shards": 1},
            "channels": [ebay_channel("iso-a", held_url), ebay_channel("iso-b", free_url)],
        }
    )


def post_sale(
    gw: Gw, sim: EbaySimulator, channel: str, sku: str, units: int = 1, timeout: float = 150
) -> int:
    """Sell ``units`` of ``sku`` on ``sim`` and deliver its signed notification; the HTTP status."""
    placed = sim.store.try_sell([(sku, units)])
    assert placed is not None
    body, headers = sim.render_webhook(placed)
    url = f"{gw.url}/webhooks/{channel}"
    return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code


def test_a_held_channel_does_not_hold_another_channels_deliveries(
    gw: Gw,
    sims: tuple[EbaySimulator, HeldOrders, str, EbaySimulator, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held_sim, proxy, _, free_sim, _ = sims
    monkeypatch.setattr(ebay_orders, "FETCH_TIMEOUT_S", 120.0)  # only the release ends A's fetches
    for i in range(FLOOD + 1):
        gw.set_stock(f"ISO-A{i}", 100)
    gw.set_stock("ISO-B", 100)
    # eBay's signing key is fetched once and cached; concurrent first deliveries are refused 401 by
    # design (adapters/ebay/public_keys.py), so one delivery warms it before the flood
    assert post_sale(gw, held_sim, "iso-a", "ISO-A0") == 200
    proxy.release.clear()
    answers: list[int] = []
    flood = [
        threading.Thread(target=lambda sku=f"ISO-A{i}": answers.append(post_sale(gw, held_sim, "iso-a", sku)))
        for i in range(1, FLOOD + 1)
    ]
    for thread in flood:
        thread.start()
    try:
        wait_until(lambda: proxy.held >= CALLS_OUT_THREADS, "A's threads all waiting on eBay", 60)
        assert post_sale(gw, free_sim, "iso-b", "ISO-B", units=3, timeout=30) == 200
        assert gw.shards.get("ISO-B")["available"] == 97
        assert not answers  # every delivery of A is still waiting on eBay
    finally:
        proxy.release.set()
        for thread in flood:
            thread.join(timeout=150)
    assert answers == [200] * FLOOD
    assert [gw.shards.get(f"ISO-A{i}")["available"] for i in range(FLOOD + 1)] == [99] * (FLOOD + 1)
