"""TikTok Shop's conformance driver (``adapters.sim.conformance``) over the strict ``TikTokSimulator``.

One simulator per process, reset at every ``start``: TikTok's order notifications are thin, so the
gateway fetches each order (Get Order Detail) from the channel's ``base_url``, and the gateway's
channel is made once per package, before any test's simulator exists; so every test drives the same
simulator. ``start`` clears listings, orders, counters and the request log; the app's credentials
and tokens stay, as TikTok's do.

Sales are paid orders (AWAITING_SHIPMENT) notified by an order status change (type 1), signed with
the app secret over ``app_key + body``. An edit is a partial cancel (units of a line cancelled and
returned to the listing; notified as a cancellation status change, type 11, unverified); a cancel
is CANCELLED, which returns every held unit. What TikTok lacks, said as ``Unsupported``: a signed
timestamp (the signature covers ``app_key`` and the body only), refunds (return notifications,
type 12, are not mapped: restocking a return is the seller's call), and a cancel keeping its units
(a cancelled order's units go back to the SKU's stock, ``orders.cancel_restocks``).

Limits: SKUs of one product per Update Inventory call, at most 100 (unverified cap); the rate is
unpublished (``published_rate`` None; the simulator spends 10 requests/s, burst 10, per API: the adapter's
guess). Seeded SKUs are grouped four to a product (``seed``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.sim.conformance import Delivery, RequestLog, SharedServed, Unsupported, alter
from adapters.sim.core import TokenBucket
from adapters.tiktok.outbound import PER_CALL, RATE_GUESS
from adapters.tiktok.signing import HEADER, webhook_signature
from adapters.tiktok.sim.app import APIS, TikTokSimulator

APP_KEY, APP_SECRET, REFRESH = "conformance-app-key", "conformance-app-secret", "conformance-refresh"
SHOP_ID, CIPHER = "7494000000000000777", "ROW_conformance-cipher"
PER_PRODUCT = 4
PUSHES = "inventory_update"


def _make() -> TikTokSimulator:
    return TikTokSimulator(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        refresh_token=REFRESH,
        shop_id=SHOP_ID,
        shop_cipher=CIPHER,
        first_order=random.randrange(10**17, 9 * 10**17),
    )


SIMULATOR = SharedServed(_make)
"""The process's simulator, served on loopback from the first call on."""


def shared() -> tuple[TikTokSimulator, RequestLog, str]:
    return SIMULATOR.get()


class TikTokDriver:
    kind = "tiktok"
    batch_limit = PER_CALL
    published_rate: tuple[float, float] | None = None

    def __init__(self) -> None:
        self.sim, self.log, self.url = shared()
        self._limit = RATE_GUESS
        self._seeds = 0

    def start(self) -> str:
        self.sim.seed([], reset=True)
        with self.sim.store.lock:
            self.sim.orders.clear()
            self.sim.refuse_skus.clear()
        self.sim.settings({"per_call": PER_CALL, "rates": dict.fromkeys(APIS, RATE_GUESS)})
        self._limit = RATE_GUESS
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
            "token_url": f"{self.url}/api/v2/token/refresh",
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "refresh_token": REFRESH,
            "shop_cipher": CIPHER,
            "shop_id": SHOP_ID,
        }

    def paging(self, page_size: int) -> dict[str, Any]:
        return {"catalog_page_size": page_size, "reconcile_page_size": page_size}

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": min(items, self.batch_limit)}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """SKUs four to a product, so pushes carry several SKUs of one product; ``varied``: one SKU
        per product, since TikTok pages products, not SKUs, and the suite's paging checks count a
        page of ``n`` items (multi-SKU products in the catalog are tested in
        tests/unit/test_tiktok_outbound.py)."""
        self._seeds += 1
        per = 1 if varied else PER_PRODUCT
        items = [
            {"sku": sku, "quantity": q, "product": f"{self._seeds}:{i // per}"}
            for i, (sku, q) in enumerate(stock.items())
        ]
        self.sim.seed(items, reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        return orjson.loads(body)["data"]["order_id"], [Delivery(body, headers, "ORDER_STATUS_CHANGE")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        held = sum(1 for u in self.sim.orders[order].units if u.sku == sku and not u.cancelled)
        body, headers = self.sim.notify(self.sim.cancel_units(order, sku, held - quantity), kind=11)
        return [Delivery(body, headers, "CANCELLATION_STATUS_CHANGE (partial cancel)")]

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported(
            "return and refund notifications are not mapped: what a TikTok return brings back to "
            "stock is the seller's call"
        )

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported("a cancelled TikTok Shop order's units go back to the SKU's stock")
        body, headers = self.sim.notify(self.sim.cancel(order))
        return [Delivery(body, headers, "ORDER_STATUS_CHANGE (CANCELLED)")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != HEADER}
        if how == "wrong_key":
            forged = webhook_signature(APP_KEY, "not-" + APP_SECRET, delivery.body)
            return Delivery(delivery.body, headers | {"Authorization": forged}, delivery.what)
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            return Delivery(delivery.body, headers, delivery.what)
        if how == "stale_timestamp":
            raise Unsupported("TikTok Shop signs app_key and the body only: there is no signed timestamp")
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        return [
            len(orjson.loads(r.body).get("skus") or [])
            for r in self.log.requests()
            if r.method == "POST" and r.path.endswith("/inventory/update")
        ]

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.buckets[PUSHES] = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        if not storm:
            self.sim.buckets[PUSHES] = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.buckets[PUSHES] = TokenBucket.spent(1.0)


DRIVER = TikTokDriver
