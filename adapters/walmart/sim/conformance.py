"""Walmart's conformance driver (``adapters.sim.conformance``) over the strict ``WalmartSimulator``.

The channel's subscription authenticates with HMAC-SHA256 of the body (base64) in the header the
seller named (here ``WM_NOTIFICATION.SIGNATURE``): wrong key, altered body and missing header all
apply; there is no signed timestamp (none of Walmart's three subscription methods signs one), so
the stale-timestamp tampering is unsupported. Sales are ``PO_CREATED``; a cancel is Walmart
auto-cancelling every line (``ORDER_UPDATES`` ``PO_LINE_AUTOCANCELLED``, units released to the
listing). What Walmart lacks, said as ``Unsupported``: order edits (orders are not edited; lines are
only cancelled whole), refunds (not in these events) and a cancel that keeps the units.

Limits: a push carries one SKU (``PUT /v3/inventory``) or a bulk feed; the suite's channel sends a
backlog of ``FEED_ITEMS`` SKUs or more as one feed of at most ``FEED_ITEMS`` (the real cap is the
5 MB file; the simulator is given this cap so the suite can exceed it), polled every 50 ms, the
simulator processing each feed after 100 ms. Rate: Walmart's Marketplace pages publish no per-call
figure for inventory updates, so ``published_rate`` is None (the adapter's default is a guess).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from adapters.sim.conformance import Delivery, RequestLog, ServedDriver, Unsupported, alter
from adapters.sim.core import TokenBucket
from adapters.walmart.sim.app import RATES, WalmartSimulator
from adapters.walmart.sim.orders import Subscription

CLIENT_ID, CLIENT_SECRET = "walmart-conformance-client", "walmart-conformance-client-secret"
HEADER = "WM_NOTIFICATION.SIGNATURE"
SUBSCRIPTION = Subscription("hmac", HEADER, CLIENT_SECRET)
FEED_ITEMS = 12
PUSHES = ("inventory_put", "feeds")
"""The operations a push spends: per-SKU PUTs and feed submissions."""


class WalmartDriver(ServedDriver):
    kind = "walmart"
    batch_limit = FEED_ITEMS
    published_rate: tuple[float, float] | None = None

    def __init__(self) -> None:
        self.sim = WalmartSimulator(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            subscription=SUBSCRIPTION,
            feed_delay_s=0.1,
            feed_max_items=FEED_ITEMS,
            first_order=random.randrange(10**6, 9 * 10**9),
        )
        self.log = RequestLog(self.sim.app)
        self._limits = {op: (RATES[op][0], RATES[op][1]) for op in PUSHES}

    def channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "webhook_secret": CLIENT_SECRET,
            "auth_method": "hmac",
            "auth_header_name": HEADER,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "feed_min_items": FEED_ITEMS,
            "feed_max_items": FEED_ITEMS,
            "feed_poll_s": 0.05,
        }

    def batching(self, items: int) -> dict[str, Any]:
        """A backlog of ``items`` SKUs goes as one feed of ``items``."""
        return {"feed_min_items": max(2, items), "feed_max_items": max(2, items)}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """Walmart's inventory has one shape (a SKU at its ship nodes): ``varied`` changes nothing."""
        self.sim.seed([{"sku": sku, "quantity": q} for sku, q in stock.items()], reset=False)

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        return self.sim.po_for(placed), [Delivery(body, headers, "PO_CREATED")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        raise Unsupported(
            "Walmart orders are not edited: lines are only cancelled whole (PO_LINE_AUTOCANCELLED)"
        )

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported("PO_CREATED and ORDER_UPDATES carry no refund; the adapter reads no returns")

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported("a cancelled Walmart order's units are released to the listing")
        body, headers = self.sim.cancel_lines(order)
        return [Delivery(body, headers, "ORDER_UPDATES (PO_LINE_AUTOCANCELLED)")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != HEADER.lower()}
        if how == "wrong_key":
            forged = Subscription("hmac", HEADER, "not-" + CLIENT_SECRET).value(delivery.body)
            return Delivery(delivery.body, headers | {HEADER: forged}, delivery.what)
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            return Delivery(delivery.body, headers, delivery.what)
        if how == "stale_timestamp":
            raise Unsupported("Walmart's subscription auth (basic, bearer or HMAC of the body) signs no time")
        raise ValueError(f"unknown tampering {how!r}")

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        """Items per push: one per inventory PUT, the feed file's items per feed submission."""
        sizes = []
        for r in self.log.requests():
            if r.method == "PUT" and r.path.startswith(("/v3/inventory", "/v3/inventories/")):
                sizes.append(1)
            elif r.method == "POST" and r.path == "/v3/feeds":
                sizes.append(r.body.count(b'"sku"'))
        return sizes

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        for op in PUSHES:
            self._limits[op] = (per_second, burst)
            self.sim.buckets[op] = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        """A storm: the account's push buckets are spent (other apps of the seller's) and refill at 1/s."""
        for op in PUSHES:
            if not storm:
                rate, burst = self._limits[op]
                self.sim.buckets[op] = TokenBucket(burst, rate)
                continue
            self.sim.buckets[op] = TokenBucket.spent(1.0)


DRIVER = WalmartDriver
