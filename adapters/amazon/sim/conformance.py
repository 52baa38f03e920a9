"""Amazon's conformance driver (``adapters.sim.conformance``) over the strict ``AmazonSimulator``.

A fresh simulator per driver: the gateway never calls SP-API (an ``ORDER_CHANGE`` without ``Summary``
is refused, not fetched), so its channel table needs only the relay secret and the seller. Orders
are numbered from a random base, so the AmazonOrderIds of one test's simulator never name another
test's order in the gateway that outlives them.

Sales are Pending merchant-fulfilled orders notified by ``ORDER_CHANGE`` as the seller's relay
forwards it (``Skusync-Signature``: timestamped HMAC, 300 s tolerance, so every tampering applies,
the stale timestamp included). An edit is a partial cancel (``AmazonSimulator.move``: the units
leave the item's ``Quantity`` and return to the listing, the order becomes Unshipped); a cancel is
``Canceled``, which returns every held unit. What Amazon lacks, said as ``Unsupported``: refunds
(``ORDER_CHANGE`` carries no refund; the adapter handles no refund or return notification) and a
cancel that keeps the units (a cancelled MFN order's units are available again).

Limits: 1 SKU per ``patchListingsItem`` (the operation patches one listings item); rate 5 requests/s,
burst 5 per selling partner (the operation's usage plan, models/listings-items-api-model/
listingsItems_2021-08-01.json; MARKETPLACES.md, Amazon). A backlog of ``FEED_ITEMS`` SKUs or more
goes as one ``JSON_LISTINGS_FEED`` of at most ``FEED_ITEMS`` (the real cap is 25,000 messages; the
simulator is given this cap so the suite can exceed it), polled every 50 ms. ``batching(n)`` turns
feeds off, so the rate and throttle tests check the patches' published 5/s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from adapters.amazon import relay
from adapters.amazon.listings import API
from adapters.amazon.sim.app import AmazonSimulator
from adapters.amazon.sim.orders import order_id_for
from adapters.sim.conformance import Delivery, RequestLog, ServedDriver, Unsupported, alter
from adapters.sim.core import TokenBucket

SELLER, MARKETPLACE = "A1CONFORMANCE", "ATVPDKIKX0DER"
"""A seller of its own: SP-API read buckets are per seller and process-wide (``sp_read.bucket``),
so the suite's reads never wait on budget other tests in the process spent."""
CLIENT_ID, CLIENT_SECRET = "amzn1.application-oa2-client.conformance", "conformance-client-secret"
REFRESH = "Atzr|conformance-refresh"
RELAY_SECRET = "amazon-conformance-relay-secret"
PUBLISHED = (5.0, 5.0)
FEED_ITEMS = 12
OPERATION = "patchListingsItem"
PRODUCT_TYPES = ("SHIRT", "LUGGAGE", "HOME_BED_AND_BATH")
"""``varied`` listings' productTypes: each patch must carry its listing's own, learned by the import."""


class AmazonDriver(ServedDriver):
    kind = "amazon"
    batch_limit = FEED_ITEMS
    published_rate: tuple[float, float] | None = PUBLISHED

    def __init__(self) -> None:
        self.sim = AmazonSimulator(
            seller_id=SELLER,
            marketplace_id=MARKETPLACE,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH,
            relay_secret=RELAY_SECRET,
            first_order=random.randrange(10**6, 9 * 10**6),
        )
        self.sim.feeds.max_messages = FEED_ITEMS
        self.log = RequestLog(self.sim.app)
        self._limit = PUBLISHED

    # -- lifecycle and configuration -----------------------------------------------------------------

    def channel(self, channel_id: str) -> dict[str, Any]:
        """No ``product_type``: each patch takes its listing's own, from the catalog import."""
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "webhook_secret": RELAY_SECRET,
            "token_url": f"{self.url}/auth/o2/token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            "seller_id": SELLER,
            "marketplace_id": MARKETPLACE,
            "feed_min_items": FEED_ITEMS,
            "feed_max_items": FEED_ITEMS,
            "feed_patch_reserve": 0,
            "feed_poll_s": 0.05,
        }

    def batching(self, items: int) -> dict[str, Any]:
        """Feeds off: one SKU a ``patchListingsItem``, within any cap of ``items``."""
        return {"feed_min_items": 0}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """``varied``: listings of several productTypes (a patch naming another is INVALID)."""
        self.sim.seed(
            [
                {"sku": sku, "quantity": q, "product_type": PRODUCT_TYPES[i % 3 if varied else 0]}
                for i, (sku, q) in enumerate(stock.items())
            ],
            reset=False,
        )

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        return order_id_for(self.sim.first_order + placed.order_id), [Delivery(body, headers, "ORDER_CHANGE")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        held = sum(q for s, q in self.sim.orders[order].lines if s == sku)
        body, headers = self.sim.move(order, None, {sku: held - quantity})
        return [Delivery(body, headers, "ORDER_CHANGE (partial cancel)")]

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        raise Unsupported(
            "ORDER_CHANGE carries no refund and the adapter handles no refund or return notification: "
            "units come back to an Amazon listing through a cancel"
        )

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported(
                "a cancelled merchant-fulfilled Amazon order's units are always available again"
            )
        body, headers = self.sim.move(order, "Canceled")
        return [Delivery(body, headers, "ORDER_CHANGE (Canceled)")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != relay.HEADER}
        now = int(time.time())
        if how == "wrong_key":
            signed = relay.sign("not-" + RELAY_SECRET, delivery.body, now)
            return Delivery(delivery.body, headers | {relay.HEADER: signed}, delivery.what)
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            return Delivery(delivery.body, headers, delivery.what)
        if how == "stale_timestamp":
            # The right secret and body, signed twice the tolerance ago: a replayed old capture.
            stale = relay.sign(RELAY_SECRET, delivery.body, now - 2 * int(relay.TOLERANCE_S))
            return Delivery(delivery.body, headers | {relay.HEADER: stale}, delivery.what)
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        """Items per push: one per patchListingsItem (the SKU is in the path), a feed document's
        messages per upload."""
        items = f"{API}/{SELLER}/"
        sizes = []
        for r in self.log.requests():
            if r.method == "PATCH" and r.path.startswith(items):
                sizes.append(1)
            elif r.method == "PUT" and r.path.startswith("/s3/feed-uploads/"):
                sizes.append(r.body.count(b'"messageId"'))
        return sizes

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.buckets[OPERATION] = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        """A storm: the seller's patch bucket is spent (other apps of the seller's) and refills at 1/s."""
        if not storm:
            self.sim.buckets[OPERATION] = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.buckets[OPERATION] = TokenBucket.spent(1.0)


DRIVER = AmazonDriver
