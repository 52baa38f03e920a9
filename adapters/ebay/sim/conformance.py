"""eBay's conformance driver (``adapters.sim.conformance``) over the strict ``EbaySimulator``.

One simulator per process, reset at every ``start``: eBay's signatures are checked against a key the
gateway fetches from the API (``getPublicKey``), and an unknown listing makes it fetch the order
(``getOrder``), so the gateway's channel (made once per package, before any test's simulator
exists) must point at the simulator every test uses. ``start`` clears listings, orders, revisions,
counters and the request log; the signing key and tokens stay, as eBay's do.

Sales are paid orders notified by ``ORDER_CONFIRMATION`` (listing ids, no SKU). What eBay lacks
here, said as ``Unsupported``: order edits, refunds and cancels (the Notification API topic this
adapter handles is the sale only; reconciliation's ``getOrders`` reads cancels) and a signed
timestamp (the ECDSA signature covers the body only). Limits: 1 SKU per ``bulkUpdatePriceQuantity``
call (the conservative reading of conflicting docs, MARKETPLACES.md); rate: the Inventory API's
daily quota, 2,000,000 calls, spread over the day (about 23.1 calls/s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from adapters.ebay.outbound import DAILY_QUOTA, PATH
from adapters.ebay.signature import HEADER
from adapters.ebay.sim import notify
from adapters.ebay.sim.app import EbaySimulator
from adapters.sim.conformance import Delivery, RequestLog, SharedServed, Unsupported, alter
from adapters.sim.core import TokenBucket

CLIENT_ID, CLIENT_SECRET, REFRESH = "conformance-app", "conformance-secret", "v^1.1#conformance-refresh"
VERIFICATION_TOKEN = "conformance-verification-token-0123456789"
RATE = DAILY_QUOTA / 86_400


def _make() -> EbaySimulator:
    return EbaySimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH)


SIMULATOR = SharedServed(_make)
"""The process's simulator, served on loopback from the first call on."""


def shared() -> tuple[EbaySimulator, RequestLog, str]:
    return SIMULATOR.get()


class EbayDriver:
    kind = "ebay"
    batch_limit = 1
    published_rate: tuple[float, float] | None = (RATE, RATE)

    def __init__(self) -> None:
        self.sim, self.log, self.url = shared()
        self._limit: tuple[float, float] = (RATE, RATE)

    def start(self) -> str:
        sim = self.sim
        sim.seed([], reset=True)
        with sim.store.lock:
            sim.orders.clear()
            sim.revisions.clear()
            sim.updates.clear()
        sim.settings({"per_call": 1, "rates": {"inventory": [RATE, RATE], "fulfillment": [RATE, RATE * 60]}})
        with self.log.lock:
            self.log.seen.clear()
        return self.url

    def stop(self) -> None:
        self.throttle(False)

    def channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "token_url": f"{self.url}/identity/v1/oauth2/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            "verification_token": VERIFICATION_TOKEN,
            "endpoint_url": f"https://sync.example.com/webhooks/{channel_id}",
        }

    def paging(self, page_size: int) -> dict[str, Any]:
        return {"catalog_page_size": page_size, "reconcile_page_size": page_size}

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": min(items, self.batch_limit)}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """eBay's listing shape is one: an inventory item with one published offer (``varied`` alike)."""
        self.sim.seed([{"sku": s, "quantity": q} for s, q in stock.items()], reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        order_id = orjson.loads(body)["notification"]["data"]["order"]["orderId"]
        return order_id, [Delivery(body, headers, "ORDER_CONFIRMATION")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        raise Unsupported("eBay's notifications handled here carry the sale only: no order edit topic")

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported("eBay's notifications handled here carry the sale only: no refund topic")

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        raise Unsupported(
            "eBay's notifications handled here carry the sale only: cancels reach master through "
            "reconciliation's getOrders backfill"
        )

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != HEADER}
        if how == "wrong_key":
            impostor = notify.Signer(kid=self.sim.signer.kid)  # eBay's kid, another key
            return Delivery(delivery.body, headers | impostor.headers(delivery.body), delivery.what)
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            return Delivery(delivery.body, headers, delivery.what)
        if how == "stale_timestamp":
            raise Unsupported("eBay's ECDSA signature covers the body only: there is no signed timestamp")
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        return [
            len(orjson.loads(r.body).get("requests") or [])
            for r in self.log.requests()
            if r.method == "POST" and r.path == PATH
        ]

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.buckets["inventory"] = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        if not storm:
            self.sim.buckets["inventory"] = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.buckets["inventory"] = TokenBucket.spent(1.0)


DRIVER = EbayDriver
