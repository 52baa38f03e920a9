"""The generic kind's conformance driver (``adapters.sim.conformance``): the README's worked example
(``adapters.generic.example``) as both the channel and the simulator's wire format.

The channel and the ``GenericSimulator`` are built from the same tables, so the suite checks that
what the configuration says is what the adapter does: webhooks at the example's paths signed
``sha256=hex(HMAC-SHA256(secret, "<timestamp>.<body>"))`` with a 300 s tolerance (every tampering
applies, the stale timestamp included); pushes of up to 50 items in the example's body template;
the catalog paged by number, orders by cursor. Sales are ``paid`` orders; an edit (``edited``)
lowers a line and restocks the rest; a refund (``refunded``) lowers a line, restocking or counting
the units in ``refunded_unrestocked``; a cancel is ``cancelled`` or ``voided`` (no restock).

Limits are the simulated marketplace's own, the example's (there is no published source: the
generic kind's limits are whatever its configuration states): 50 items a push, 5 requests/s burst 5.
Orders are numbered from a random base, so a gateway outliving one simulator never sees two orders
share an id.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.generic.example import example_channel
from adapters.generic.keys import SignatureSpec
from adapters.generic.sim.app import GenericSimulator
from adapters.generic.sim.push import PushRefused, parse_push
from adapters.generic.sim.signing import sign
from adapters.sim.conformance import Delivery, RequestLog, ServedDriver, alter
from adapters.sim.core import TokenBucket
from engine.config import ChannelConfig

SECRET, TOKEN = "generic-conformance-secret", "generic-conformance-token"
PUBLISHED = (5.0, 5.0)


class GenericDriver(ServedDriver):
    kind = "generic"
    published_rate: tuple[float, float] | None = PUBLISHED

    def __init__(self) -> None:
        self.table = example_channel("conformance-sim", "http://127.0.0.1", SECRET, TOKEN)
        config = ChannelConfig.model_validate(self.table)
        self.sim = GenericSimulator.from_channel(
            config, rate=PUBLISHED, first_order=random.randrange(10**6, 9 * 10**6)
        )
        self.batch_limit = self.sim.batch_limit
        self.log = RequestLog(self.sim.app)
        self._limit = PUBLISHED

    @property
    def spec(self) -> SignatureSpec:
        return self.sim.signature

    # -- configuration -------------------------------------------------------------------------------

    def channel(self, channel_id: str) -> dict[str, Any]:
        """The example's table; no ``rate_limit``: the adapter's default budget is what is tested."""
        table = example_channel(channel_id, self.url, SECRET, TOKEN)
        table.pop("rate_limit")
        return table

    def paging(self, page_size: int) -> dict[str, Any]:
        return {name: self.table[name] | {"page_size": page_size} for name in ("catalog", "orders")}

    def batching(self, items: int) -> dict[str, Any]:
        return {"push": self.table["push"] | {"batch_size": min(items, self.batch_limit)}}

    def seed(self, stock: Mapping[str, int], varied: bool = False) -> None:
        """One listing shape: a SKU with its listing id (``varied`` alike)."""
        self.sim.seed([{"sku": s, "quantity": q} for s, q in stock.items()], reset=False)

    # -- orders --------------------------------------------------------------------------------------

    def sale(self, lines: Mapping[str, int]) -> tuple[str, list[Delivery]]:
        placed = self.sim.store.try_sell(list(lines.items()))
        if placed is None:
            raise ValueError(f"the listings do not cover {dict(lines)}")
        body, headers = self.sim.render_webhook(placed)
        return str(self.sim.first_order + placed.order_id), [Delivery(body, headers, "paid")]

    def edit(self, order: str, sku: str, quantity: int) -> list[Delivery]:
        return [Delivery(*self.sim.change(order, sku, quantity, "edit"), "edited")]

    def refund(self, order: str, sku: str, quantity: int, restock: bool) -> list[Delivery]:
        how = "refund" if restock else "refund_keep"
        return [Delivery(*self.sim.change(order, sku, quantity, how), "refunded")]

    def cancel(self, order: str, restock: bool) -> list[Delivery]:
        how = "cancel" if restock else "cancel_keep"
        return [Delivery(*self.sim.change(order, None, 0, how), "cancelled" if restock else "voided")]

    def tamper(self, delivery: Delivery, how: str) -> Delivery:
        spec = self.spec
        named = {spec.header.lower(), (spec.timestamp_header or "").lower()}
        headers = {k: v for k, v in delivery.headers.items() if k.lower() not in named}
        now = int(time.time())
        if how == "wrong_key":
            return Delivery(
                delivery.body, headers | sign(spec, "not-" + SECRET, delivery.body, now), delivery.what
            )
        if how == "altered_body":
            return Delivery(alter(delivery.body), delivery.headers, delivery.what)
        if how == "missing_header":
            kept = {k: v for k, v in delivery.headers.items() if k.lower() != spec.header.lower()}
            return Delivery(delivery.body, kept, delivery.what)
        if how == "stale_timestamp":
            # The right secret and body, signed twice the tolerance ago: a replayed old capture.
            stale = now - 2 * int(spec.tolerance_s)
            return Delivery(delivery.body, headers | sign(spec, SECRET, delivery.body, stale), delivery.what)
        raise ValueError(f"unknown tampering {how!r}")

    # -- observation and control ---------------------------------------------------------------------

    def listed(self) -> dict[str, int]:
        return dict(self.sim.store.snapshot(lists=False)["listed"])

    def pushes(self) -> list[int]:
        push, sizes = self.sim.push, []
        for r in self.log.requests():
            if r.method == push.method and r.path == push.url:
                try:
                    sizes.append(len(parse_push(push, orjson.loads(r.body), {}, 10**6)))
                except (PushRefused, orjson.JSONDecodeError):
                    sizes.append(0)
        return sizes

    def requests(self) -> int:
        return int(self.sim.store.counters["requests"])

    def throttled(self) -> int:
        return int(self.sim.store.counters["throttled"])

    def enforce_rate(self, per_second: float, burst: float) -> None:
        self._limit = (per_second, burst)
        self.sim.bucket = TokenBucket(burst, per_second)

    def throttle(self, storm: bool) -> None:
        """A storm: the account's budget is spent and refills at 1 request per 5 s: slower than the
        channel's own default pace (1 request/s at 0.9 of it), or the storm would throttle nothing."""
        if not storm:
            self.sim.bucket = TokenBucket(self._limit[1], self._limit[0])
            return
        self.sim.bucket = TokenBucket.spent(0.2)


DRIVER = GenericDriver
