"""Flipkart read side for reconciliation: shipments modified since T, listed quantities.

Orders: ``POST /sellers/v3/shipments/filter`` ``{"filter": {"type", "states", "modifiedDate":
{"from", "to"}}, "pagination": {"pageSize"}, "sort"}``, then ``GET`` on the answer's
``nextPageUrl`` while ``hasMore`` (api-docs order-api-docs/v3 PostShipmentSearch). ``type`` and
``states`` are mandatory and each type takes its own states, so one search per type:
preDispatch, postDispatch, and cancelled once per ``cancellationType`` (mandatory for it), by
``cancellationDate``. Each shipment maps as ``adapters.flipkart.orders``. Quantities: every listing
(``adapters.flipkart.listings``), the synced location's ``inventory``. Every request costs one unit
of the channel's budget, paced by the caller. Extra: ``reconcile_page_size`` (20).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.flipkart import listings
from adapters.flipkart.api import call
from adapters.flipkart.orders import channel_order
from adapters.reading import Pace, ReadStats
from engine.config import ChannelConfig
from engine.reconcile import ChannelOrder

FILTER = "/sellers/v3/shipments/filter"
PRE = ("APPROVED", "PACKING_IN_PROGRESS", "FORM_FAILED", "PACKED", "READY_TO_DISPATCH")
POST = ("PICKUP_COMPLETE", "SHIPPED", "DELIVERED")
CANCELLATIONS = ("sellerCancellation", "buyerCancellation", "marketplaceCancellation")
PAGE_SIZE = 20


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def searches(since: float, now: float, size: int) -> list[dict[str, Any]]:
    """The ``shipments/filter`` bodies that together list every shipment changed since ``since``."""
    window = {"from": iso(since), "to": iso(now)}
    page = {"pagination": {"pageSize": size}, "sort": {"field": "modifiedDate", "order": "asc"}}
    bodies = [
        {"filter": {"type": "preDispatch", "states": list(PRE), "modifiedDate": window}, **page},
        {"filter": {"type": "postDispatch", "states": list(POST), "modifiedDate": window}, **page},
    ]
    for why in CANCELLATIONS:
        cancelled = {"type": "cancelled", "states": ["CANCELLED"], "cancellationType": why}
        bodies.append({"filter": cancelled | {"cancellationDate": window}, "pagination": page["pagination"]})
    return bodies


@dataclass
class FlipkartReconcile:
    kind: str = "flipkart"
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)

    async def orders_since(
        self, client: httpx.AsyncClient, channel: ChannelConfig, since: float, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[list[ChannelOrder]]:
        size = _size(channel, PAGE_SIZE)
        before = _paced(pace, stats)
        for body in searches(since, self.clock() + 60, size):
            answer = await call(client, channel, "POST", FILTER, body=body, before=before, sleep=self.sleep)
            while True:
                rows = [r for r in answer.get("shipments") or [] if isinstance(r, dict)]
                page = [o for o in (channel_order(r) for r in rows) if o is not None]
                if page:
                    yield page
                nxt = answer.get("nextPageUrl")
                if not answer.get("hasMore") or not isinstance(nxt, str) or not nxt:
                    break
                path = nxt if nxt.startswith("/sellers/") else "/sellers" + nxt
                answer = await call(client, channel, "GET", path, before=before, sleep=self.sleep)

    async def listed_quantities(
        self, client: httpx.AsyncClient, channel: ChannelConfig, pace: Pace, stats: ReadStats
    ) -> AsyncIterator[dict[str, int]]:
        size = _size(channel, listings.DETAILS_MAX)
        async for page in listings.pages(client, channel, size, _paced(pace, stats), self.sleep):
            found = {sku: q for sku, (_, loc) in page.items() if type(q := loc.get("inventory")) is int}
            if found:
                yield found


def _size(channel: ChannelConfig, most: int) -> int:
    return max(1, min(most, int(getattr(channel, "reconcile_page_size", None) or most)))


def _paced(pace: Pace, stats: ReadStats) -> Callable[[], Awaitable[None]]:
    async def before() -> None:
        await pace(1.0)
        stats.add(1.0)

    return before
