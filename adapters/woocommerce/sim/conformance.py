"""WooCommerce's conformance driver (``adapters.sim.conformance``) over the strict ``WooCommerceSimulator``.

Sales are paid REST orders (``set_paid``: processing, stock reduced once as core does), their
notification the ``order.created`` webhook core fires; refunds and cancels are the merchant's REST
calls, each followed by the ``order.updated`` webhook. The store's clock steps one second per reading,
so successive changes of one order are new versions (WooCommerce dates have whole seconds) without
waiting.

What WooCommerce lacks, said as ``Unsupported``: a line edit (the simulator, like the REST API, has no
order line edit; core's admin-side ``wc_maybe_adjust_line_item_product_stock`` is not modelled, and a
line removed from a paid order keeps its units held: README, known limits), a cancel that does not
restock (core's ``wc_maybe_increase_stock_levels`` restores every cancelled order), and a signed
timestamp (WooCommerce signs the raw body only). Limits: 100 items per batch request (the
``woocommerce_rest_batch_items_limit`` default); core publishes no rate limit (MARKETPLACES.md,
WooCommerce), so ``published_rate`` is None.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.sim.conformance import Delivery, RequestLog, ServedDriver, Unsupported, alter
from adapters.sim.core import TokenBucket
from adapters.woocommerce.inbound import signature
from adapters.woocommerce.sim.app import WooCommerceSimulator

SECRET = "woo-conformance &amp; secret"
KEY, CONSUMER_SECRET = "ck_conformance", "cs_conformance"
SIGNATURE = "X-WC-Webhook-Signature"
STORM_RATE = 1.0
"""Requests/s a host's limiter lets through during a storm (burst 1, spent when the storm starts)."""


class WooCommerceDriver(ServedDriver):
    kind = "woocommerce"
    batch_limit = 100
    published_rate: tuple[float, float] | None = None

    def __init__(self) -> None:
        ticks = itertools.count(int(time.time()))
        self.sim = WooCommerceSimulator(
            consumer_key=KEY,
            consumer_secret=CONSUMER_SECRET,
            webhook_secret=SECRET,
            clock=lambda: float(next(ticks)),
            first_order_id=random.randrange(10**6, 10**12),
        )
        self.log = RequestLog(self.sim.app)
        self._groups = itertools.count(1)
        self._limit: tuple[float, float] | None = None

    # -- lifecycle and configuration -----------------------------------------------------------------

    def channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "kind": self.kind,
            "base_url": self.url,
            "consumer_key": KEY,
            "consumer_secret": CONSUMER_SECRET,
            "webhook_secret": SECRET,
        }

    def batching(self, items: int) -> dict[str, Any]:
        return {"max_batch": items}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """``varied``: a third simple products, a third variations with stock of their own (two to a
        parent), a third the only variation of a parent that manages the stock."""
        items: list[dict[str, Any]] = []
        shared = f"V{next(self._groups)}"
        for i, (sku, quantity) in enumerate(stock.items()):
            item: dict[str, Any] = {"sku": sku, "quantity": quantity}
            if varied and i % 3 == 1:
                if i % 2:
                    shared = f"V{next(self._groups)}"
                item["group"] = shared
            elif varied and i % 3 == 2:
                item |= {"group": f"P{next(self._groups)}", "stock": "parent"}
            items.append(item)
        self.sim.seed(items, reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        order = self.sim.book.create(list(lines.items()), set_paid=True)
        return str(order.order_id), [self._render(order.order_id, "order.created")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        raise Unsupported(
            "WooCommerce's REST API has no order line edit and the simulator does not model the "
            "admin's (wc_maybe_adjust_line_item_product_stock)"
        )

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        found = self.sim.book.get(int(order))
        item = next(i for i in found.items if i.sku == sku)
        self.sim.book.refund(found.order_id, {item.item_id: quantity}, restock)
        return [self._render(found.order_id, "order.updated")]

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        if not restock:
            raise Unsupported(
                "WooCommerce restores the stock of every cancelled order (wc_maybe_increase_stock_levels)"
            )
        self.sim.book.set_status(int(order), "cancelled")
        return [self._render(int(order), "order.updated")]

    def _render(self, order_id: int, topic: str) -> Delivery:
        body, headers = self.sim.render(self.sim.book.get(order_id), topic)
        return Delivery(body, headers, topic)

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
                "WooCommerce signs the raw body only: there is no signed timestamp to make stale"
            )
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        out = []
        for request in self.log.requests():
            if request.method == "POST" and request.path.endswith("/batch"):
                body = orjson.loads(request.body)
                out.append(sum(len(body.get(verb) or []) for verb in ("create", "update", "delete")))
        return out

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.limiter = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        if not storm:
            self.sim.limiter = None if self._limit is None else TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.limiter = TokenBucket.spent(STORM_RATE)


DRIVER = WooCommerceDriver
