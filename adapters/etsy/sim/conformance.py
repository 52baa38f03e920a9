"""Etsy's conformance driver (``adapters.sim.conformance``) over the strict ``EtsySimulator``.

One simulator per process, reset at every ``start``: an ``order.paid`` delivery is thin, so the
gateway fetches the receipt from ``base_url``, and the gateway's channel (made once per package,
before any test's simulator exists) must point at the simulator every test uses. ``start`` clears
listings, receipts, counters and the request log; credentials and the webhook secret stay.

Sales are paid receipts notified by ``order.paid`` (Standard Webhooks signatures, timestamp signed:
all four tamperings apply). The channel handles ``order.canceled`` too (an unverified name,
configured through ``event_types``), so a restocking cancel is driven; what Etsy lacks, said as
``Unsupported``: order edits (a receipt's transactions do not change) and refunds as stock events
(Etsy refunds money without restocking: no units move, so nothing to notify). A cancel that keeps
the units is not modelled (``cancel_restocks`` is per channel, not per cancel).
Limits: one listing per ``updateListingInventory``, all its products in it (Etsy publishes no cap
on products per write that we found; ``batch_limit`` is the adapter's own 20 SKUs of one listing a
write, and a simulated listing holds at most 3); rate: 10 requests/s per app, burst 10
(developers.etsy.com rate limits; 10,000 a day).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.etsy import signature
from adapters.etsy.sim.app import EtsySimulator
from adapters.sim.conformance import Delivery, RequestLog, SharedServed, Unsupported, alter
from adapters.sim.core import TokenBucket

CLIENT_ID, REFRESH = "conformance-keystring", "conformance-refresh"
SECRET = "whsec_" + base64.b64encode(b"conformance-etsy-webhook-secret!").decode()
RATE = 10.0


def _make() -> EtsySimulator:
    return EtsySimulator(client_id=CLIENT_ID, refresh_token=REFRESH, webhook_secret=SECRET)


SIMULATOR = SharedServed(_make)
"""The process's simulator, served on loopback from the first call on."""


def shared() -> tuple[EtsySimulator, RequestLog, str]:
    return SIMULATOR.get()


class EtsyDriver:
    kind = "etsy"
    batch_limit = 20
    published_rate: tuple[float, float] | None = (RATE, RATE)

    def __init__(self) -> None:
        self.sim, self.log, self.url = shared()
        self._limit: tuple[float, float] = (RATE, RATE)

    def start(self) -> str:
        self.sim.shop.seed([], reset=True)
        self.sim.settings({"per_second": RATE, "burst": RATE})
        self.sim.day.clear()
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
            "token_url": f"{self.url}/v3/public/oauth/token",
            "client_id": CLIENT_ID,
            "refresh_token": REFRESH,
            "shop_id": self.sim.shop.shop_id,
            "webhook_secret": SECRET,
            "event_types": ["order.paid", "order.canceled"],
        }

    def paging(self, page_size: int) -> dict[str, Any]:
        return {"catalog_page_size": page_size, "reconcile_page_size": page_size}

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": items}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """One listing a SKU, or (``varied``) listings of three variations with their own prices."""
        self.sim.shop.seed([{"sku": s, "quantity": q} for s, q in stock.items()], reset=False, varied=varied)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        receipt_id = str(orjson.loads(body)["resource_url"]).rsplit("/", 1)[1]
        return receipt_id, [Delivery(body, headers, "order.paid")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        raise Unsupported("Etsy has no order edit: a receipt's transactions do not change")

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported("Etsy refunds money without restocking and notifies no stock change for it")

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported(
                "whether a cancel restocks is the channel's cancel_restocks key, not per cancel"
            )
        self.sim.shop.cancel(int(order), restock)
        body, headers = self.sim.delivery("order.canceled", int(order))
        return [Delivery(body, headers, "order.canceled")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        names = (signature.ID, signature.TIMESTAMP, signature.SIGNATURE)
        headers = dict(delivery.headers)
        if how == "wrong_key":
            other = signature.sign(
                b"another-key-entirely",
                headers[signature.ID],
                int(headers[signature.TIMESTAMP]),
                delivery.body,
            )
            return Delivery(delivery.body, headers | {signature.SIGNATURE: other}, delivery.what)
        if how == "altered_body":
            return Delivery(alter(delivery.body), headers, delivery.what)
        if how == "missing_header":
            return Delivery(
                delivery.body, {k: v for k, v in headers.items() if k != signature.SIGNATURE}, delivery.what
            )
        if how == "stale_timestamp":
            stamp = int(time.time()) - 3600
            key = signature.key_bytes(SECRET)
            signed = signature.sign(key, headers[signature.ID], stamp, delivery.body)
            return Delivery(delivery.body, headers | {names[1]: str(stamp), names[2]: signed}, delivery.what)
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        """Our SKUs' products in each inventory write (every write restates its whole listing)."""
        return [
            len(orjson.loads(r.body).get("products") or [])
            for r in self.log.requests()
            if r.method == "PUT" and r.path.endswith("/inventory")
        ]

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.second = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        if not storm:
            self.sim.second = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.second = TokenBucket.spent(1.0)


DRIVER = EtsyDriver
