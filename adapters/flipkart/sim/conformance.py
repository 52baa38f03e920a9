"""Flipkart's conformance driver (``adapters.sim.conformance``) over the strict ``FlipkartSimulator``.

One simulator per process, reset at every ``start``: the gateway reads the shipment a
``shipment_cancelled`` names, so its channel (made once per package, before any test's simulator
exists) must point at the simulator every test uses. ``start`` clears listings, shipments, counters
and the request log; the application's tokens stay, as Flipkart's do. Shipments are numbered from a
random base and never reused in the process. Sales are ``shipment_created`` notifications signed
with FKLOGIN for the channel's ``endpoint_url``.

An edit is a partial cancel (``FlipkartSimulator.cancel`` of some units: they return to the listing
and the notification names the order item); a cancel is every unit. The gateway reads the shipment
each ``shipment_cancelled`` names. What Flipkart or this adapter lacks, said as ``Unsupported``: an
altered body (Flipkart's signature covers ``X_Date``, the URL, the method and the app secret,
never the body: api-docs NotifIntro); refunds (returns are notified apart and not handled); a
cancel that keeps the units (a cancelled seller-fulfilled shipment's units are back on the listing).

Limits: 10 SKUs per ``update/inventory`` call ("Max batch size allowed is 10",
UpdateListingsInventoryAPI; MARKETPLACES.md, Flipkart); no published rate (None).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.flipkart import signature
from adapters.flipkart.outbound import PATH
from adapters.flipkart.sim.app import PUSH, FlipkartSimulator
from adapters.sim.conformance import Delivery, RequestLog, SharedServed, Unsupported
from adapters.sim.core import TokenBucket

APP_ID, APP_SECRET = "fk-conformance-app", "fk-conformance-secret"
NOTIFY_URL = "https://sync.example.com/webhooks/conformance"
GUESS = (5.0, 5.0)


def _make() -> FlipkartSimulator:
    return FlipkartSimulator(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        notify_url=NOTIFY_URL,
        first_shipment=random.randrange(10**8, 9 * 10**8),
    )


SIMULATOR = SharedServed(_make)
"""The process's simulator, served on loopback from the first call on."""


def shared() -> tuple[FlipkartSimulator, RequestLog, str]:
    return SIMULATOR.get()


class FlipkartDriver:
    kind = "flipkart"
    batch_limit = 10
    published_rate: tuple[float, float] | None = None

    def __init__(self) -> None:
        self.sim, self.log, self.url = shared()
        self._limit = GUESS

    def start(self) -> str:
        sim = self.sim
        sim.seed([], reset=True)
        with sim.store.lock:
            sim.shipments.clear()
            sim.pages.clear()
        sim.buckets[PUSH] = TokenBucket(GUESS[1], GUESS[0])
        with self.log.lock:
            self.log.seen.clear()
        return self.url

    def stop(self) -> None:
        self.throttle(False)

    def paging(self, page_size: int) -> dict[str, Any]:
        return {"catalog_page_size": page_size, "reconcile_page_size": page_size}

    def channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "token_url": f"{self.url}/oauth-service/oauth/token",
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "endpoint_url": NOTIFY_URL,
        }

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": items}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """Every listing has its own product_id (a push naming another fails the SKU)."""
        self.sim.seed([{"sku": sku, "quantity": q} for sku, q in stock.items()], reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        shipment = orjson.loads(body)["shipmentId"]
        return shipment, [Delivery(body, headers, "shipment_created")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        held = sum(
            i.quantity for i in self.sim.shipments[order].items if i.sku == sku and i.status != "CANCELLED"
        )
        body, headers = self.sim.cancel(order, {sku: held - quantity})
        return [Delivery(body, headers, "shipment_cancelled (partial)")]

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported(
            "return notifications are acknowledged but not handled: a return's units come back when the "
            "seller restocks them"
        )

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported(
                "a cancelled seller-fulfilled Flipkart shipment's units are back on the listing"
            )
        body, headers = self.sim.cancel(order)
        return [Delivery(body, headers, "shipment_cancelled")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        kept = {
            k: v for k, v in delivery.headers.items() if k.lower() not in (signature.AUTH, signature.DATE)
        }
        now = time.time()
        if how == "wrong_key":
            return Delivery(
                delivery.body, kept | signature.sign(APP_ID, "not-" + APP_SECRET, NOTIFY_URL, now)
            )
        if how == "altered_body":
            raise Unsupported(
                "Flipkart's FKLOGIN signature covers X_Date, URL, method and secret, not the body"
            )
        if how == "missing_header":
            date = {k: v for k, v in delivery.headers.items() if k.lower() == signature.DATE}
            return Delivery(delivery.body, kept | date, delivery.what)
        if how == "stale_timestamp":
            stale = now - 2 * signature.TOLERANCE_S  # the right secret, signed ten minutes ago
            return Delivery(
                delivery.body, kept | signature.sign(APP_ID, APP_SECRET, NOTIFY_URL, stale), delivery.what
            )
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        """SKUs per update/inventory request (the body's keys)."""
        out = []
        for r in self.log.requests():
            if r.method == "POST" and r.path == PATH:
                try:
                    out.append(len(orjson.loads(r.body)))
                except (orjson.JSONDecodeError, TypeError):
                    out.append(0)
        return out

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.buckets[PUSH] = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        """A storm: the push bucket is spent and refills at 1 call/s."""
        if not storm:
            self.sim.buckets[PUSH] = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.buckets[PUSH] = TokenBucket.spent(1.0)


DRIVER = FlipkartDriver
