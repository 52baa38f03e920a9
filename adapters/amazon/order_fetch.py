"""``getOrder`` for an ``ORDER_CHANGE`` without ``Summary``, inside the gateway, within its budget.

``GET /orders/2026-01-01/orders/{orderId}?includedData=FULFILLMENT,CANCELLATION`` answers
``{"order": Order}`` (models/orders-api-model/orders_2026-01-01.json: ``GetOrderResponse``;
``includedData`` is an array in the query, comma-separated as Swagger 2.0's default ``csv``; 404 for
an order the seller does not have). Usage plan 0.5 requests/s, burst 30, per seller and application
(the operation's description), so every gateway thread of a seller takes from one token bucket
(``sp_read.bucket(seller, "getOrder")``, guarded by a lock here: the gateway runs this on the
channel's worker threads, ``AmazonInbound.calls_out``). The order maps through the same parser as
reconciliation's ``searchOrders`` rows (``orders.order_state``).

A gateway thread never waits long: a bucket needing more than ``max_wait_s`` (2 s: four
notifications queued behind the 0.5/s refill), a 429 ``QuotaExceeded``, a 5xx or a transport error
on each of ``attempts`` (3) tries, or a token that cannot be fetched raise ``FetchDeferred``. It is
deliberately not an ``AdapterError`` (400, which a relay takes as final): the gateway answers 500
``{"retry": true}``, so the relay (SQS: the message becomes visible again) delivers it later; the
gateway has no hook for a 503 with ``Retry-After`` from an adapter. A 403 drops the token and tries
once more (expired or revoked: every operation's 403 in the model); 404 and other 4xx are
``AdapterError``: the order is not this seller's to read, and reconciliation's backfill reads orders
either way.

Version (``fetched_version``): the state read is as of its ``lastUpdatedTime``, which may be later
than the change notified (a later change happened since), so the event carries
``max(lastUpdatedTime, TimeOfOrderChange)`` in ms. Labelling a newer state with the older change's
time would let a delivery of a change in between win over it; and when the read is no newer than
the change, it is the notified state and gets the version the ``Summary`` path gives it. A read
older than the change by more than ``LAG_TOLERANCE_S`` has not caught up with it: deciding it would
record a stale state as this ``NotificationId``'s answer for good, so it is ``FetchDeferred``
instead. Unverified: that the Orders API can lag its notifications, and how its ``lastUpdatedTime``
(the model's example is whole seconds) compares with ``TimeOfOrderChange`` (milliseconds); hence a
one-second tolerance, in this one function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from adapters import blocking_http
from adapters.amazon import listings, notifications, orders
from adapters.amazon.lwa import HEADER, TokenError, tokens_for
from adapters.amazon.sp_read import OpBucket, bucket
from adapters.base import AdapterError, Inbound, TryLater
from adapters.http_retry import backoff, retry_after
from adapters.reading import epoch
from engine.config import ChannelConfig

PATH = "/orders/2026-01-01/orders"
INCLUDED = "FULFILLMENT,CANCELLATION"
LAG_TOLERANCE_S = 1.0
_LOCK = threading.Lock()


class FetchDeferred(TryLater):
    """The order cannot be read now; the delivery should come again (the gateway answers 5xx)."""


def fetched_version(state: orders.OrderState, note: dict[str, Any]) -> int:
    """The fetched state's version (see the module docstring); ``FetchDeferred`` when the read
    is older than the change the notification announces."""
    raw = note.get("OrderChangeTrigger")
    changed = epoch(raw.get("TimeOfOrderChange")) if isinstance(raw, dict) else None
    if changed is not None and state.modified < changed - LAG_TOLERANCE_S:
        raise FetchDeferred(f"getOrder shows {state.order_id} before the change notified: try later")
    return round(max(state.modified, changed or 0.0) * 1000)


@dataclass
class OrderFetcher:
    """Blocking ``getOrder`` (see the module docstring); ``sleep`` and ``buckets`` are injectable."""

    timeout_s: float = 2.0
    max_wait_s: float = 2.0
    attempts: int = 3
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    buckets: Callable[[str, str], OpBucket] = field(default=bucket, repr=False)

    def reserve(self, op: OpBucket) -> None:
        """Take the next token, waiting for it when that is short; else ``FetchDeferred``."""
        with _LOCK:
            wait = op.wait_time()
            if wait > self.max_wait_s:
                raise FetchDeferred(f"getOrder budget spent: next call in {wait:.1f} s", max(1.0, wait))
            op.take()  # reserved now, so concurrent threads queue behind it
        if wait > 0:
            self.sleep(wait)

    def get(self, channel: ChannelConfig, order_id: str) -> dict[str, Any]:
        seller, _ = listings.seller_and_marketplace(channel)
        op = self.buckets(seller, "getOrder")
        tokens = tokens_for(channel)
        url = f"{channel.base_url.rstrip('/')}{PATH}/{quote(order_id, safe='')}"
        refreshed, why = False, "no attempt"
        for attempt in range(self.attempts):
            self.reserve(op)
            try:
                token = tokens.ensure_sync(self.timeout_s)
                with blocking_http.client(self.timeout_s) as client:
                    response = client.get(
                        url,
                        params={"includedData": INCLUDED},
                        headers={HEADER: token, "Accept": "application/json"},
                    )
            except (TokenError, httpx.HTTPError) as exc:
                why = type(exc).__name__
                self.sleep(backoff(attempt))
                continue
            with _LOCK:
                op.adopt(response)
            status = response.status_code
            if status == 200:
                return _order(response, order_id)
            if status == 403 and not refreshed:
                tokens.forget(token)
                refreshed = True
                continue
            if status == 429 or status >= 500:
                why = f"HTTP {status}"
                if status == 429:
                    with _LOCK:
                        op.level = min(op.level, 0.0)  # SP-API's bucket is empty: wait for a refill
                self.sleep(retry_after(response) or (0.0 if status == 429 else backoff(attempt)))
                continue
            raise AdapterError(f"getOrder answered HTTP {status}; backfill reads the order")
        raise FetchDeferred(f"getOrder failed {self.attempts} times ({why}): deliver again later")


def _order(response: httpx.Response, order_id: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise FetchDeferred("getOrder answered something other than JSON") from None
    order = body.get("order") if isinstance(body, dict) else None
    if not isinstance(order, dict) or order.get("orderId") != order_id:
        raise AdapterError("getOrder answered another order")
    return order


def thin_change(
    channel: ChannelConfig,
    fetcher: OrderFetcher,
    key: str,
    order_id: str,
    note: dict[str, Any],
    envelope: dict[str, Any],
) -> Inbound:
    """An ``ORDER_CHANGE`` without ``Summary`` as the fetched order's event, under the same key."""
    state = orders.order_state(fetcher.get(channel, order_id))
    if state is None:
        raise AdapterError("getOrder answered an order without lastUpdatedTime or a SKU line")
    if state.by_amazon:
        return Inbound(note="ignored: fulfilled by Amazon (FBA stock is not master's)")
    if notifications.holds_stock(state.status) is False:
        return Inbound(note=f"ignored order status {state.status[:40] or 'unknown'}")
    lines = [{"sku": sku, "quantity": q} for sku, q in state.units.items()]
    version = fetched_version(state, note)
    return notifications.decided(
        channel.id, key, order_id, state.status, lines, version, list(state.buyer_cancels)
    )
