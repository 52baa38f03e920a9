"""Shopify's conformance driver (``adapters.sim.conformance``) over the strict ``ShopifySimulator``.

Sales are the simulated shop's checkouts (``SimulatedStore.try_sell``), their notification the
``orders/create`` delivery the shop renders; edits, refunds and cancels are the shop's merchant actions
(``ShopOrderBook``), each returning the webhooks Shopify fires for it. Shopify signs the body only
(base64 HMAC-SHA256 of the raw body, ``X-Shopify-Hmac-Sha256``): no signed timestamp, so the stale
timestamp tampering is unsupported. Limits: 250 quantities per ``inventorySetQuantities`` and the
GraphQL Admin bucket of the Standard plan, 100 points/s restored into 1,000 (MARKETPLACES.md, Shopify).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from adapters.shopify.inbound import signature
from adapters.shopify.sim.app import ShopifySimulator
from adapters.sim.conformance import Delivery, RequestLog, ServedDriver, Unsupported, alter

SECRET = "shpss-conformance-secret"
TOKEN = "shpat_conformance"
LOCATION, OTHER = "gid://shopify/Location/1", "gid://shopify/Location/2"
SIGNATURE = "X-Shopify-Hmac-Sha256"
PUBLISHED = (100.0, 1000.0)
STORM_RESTORE = 5.0
"""Points/s the bucket refills at during a storm: a shop whose other apps spend nearly all of it."""


class ShopifyDriver(ServedDriver):
    kind = "shopify"
    batch_limit = 250
    published_rate: tuple[float, float] | None = PUBLISHED

    def __init__(self) -> None:
        self.sim = ShopifySimulator(
            access_token=TOKEN,
            webhook_secret=SECRET,
            location_id=LOCATION,
            other_locations=(OTHER,),
            restore_rate=PUBLISHED[0],
            maximum_available=PUBLISHED[1],
        )
        self.log = RequestLog(self.sim.app)

    # -- lifecycle and configuration -----------------------------------------------------------------

    def channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "access_token": TOKEN,
            "location_id": LOCATION,
            "webhook_secret": SECRET,
        }

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": items}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """``varied``: every other SKU is stocked at a second location too, which pushes and
        reads of ``location_id`` must leave alone."""
        items: list[dict[str, Any]] = []
        for i, (sku, quantity) in enumerate(stock.items()):
            item: dict[str, Any] = {"sku": sku, "quantity": quantity}
            if varied and i % 2:
                item["locations"] = {OTHER: quantity + 3}
            items.append(item)
        self.sim.seed(items, reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the shop's listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        return str(placed.order_id), [Delivery(body, headers, "orders/create")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        return _deliveries(self.sim.book.edit(int(order), sku, quantity, restock=True))

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        # The simulated shop fulfils nothing: restocking unfulfilled units is restock_type "cancel".
        kind = "cancel" if restock else "no_restock"
        return _deliveries(self.sim.book.refund(int(order), [(sku, quantity)], kind))

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        return _deliveries(self.sim.book.cancel(int(order), restock))

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != SIGNATURE.lower()}
        if how == "wrong_key":
            return Delivery(delivery.body, headers | {SIGNATURE: signature("not-" + SECRET, delivery.body)})
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            return Delivery(delivery.body, headers, delivery.what)
        if how == "stale_timestamp":
            raise Unsupported(
                "Shopify signs the raw body only (X-Shopify-Triggered-At is not signed): "
                "there is no signed timestamp to make stale"
            )
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        out = []
        for request in self.log.requests():
            if request.method != "POST" or not request.path.endswith("/graphql.json"):
                continue
            body = orjson.loads(request.body)
            if "inventorySetQuantities" in str(body.get("query", "")):
                for value in (body.get("variables") or {}).values():
                    if isinstance(value, dict) and isinstance(value.get("quantities"), list):
                        out.append(len(value["quantities"]))
        return out

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self.sim.settings({"restore_rate": per_second, "maximum_available": burst})
        self.sim.bucket.refund(burst)

    def throttle(self, storm: bool) -> None:
        if not storm:
            self.enforce_rate(*PUBLISHED)
            return
        self.sim.settings({"restore_rate": STORM_RESTORE})
        bucket = self.sim.bucket
        bucket.take(bucket.available())


def _deliveries(sent: list[Any]) -> list[Delivery]:
    return [Delivery(d.body, dict(d.headers), d.topic) for d in sent]


DRIVER = ShopifyDriver
