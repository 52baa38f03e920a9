"""Etsy outbound: ``updateListingInventory``, which REPLACES a listing's whole inventory.

So every write is a read and a write, both through the channel actor's budget: ``build`` sends
``GET .../listings/{id}/inventory`` when it holds no fresh copy of the listing, its answer is kept
and its SKUs are requeued (``PushResult.requeue``: sent again at once, no attempt counted), and the
next ``build`` sends ``PUT`` with that copy, only our SKUs' quantities changed, every other field
written back as read (``adapters.etsy.inventory.put_body``). A copy is used for one write only and
only within ``fresh_s`` (60) of its read, so a seller's price edit made since our last write is read
and kept, never overwritten from an old copy; a read that differs from our last copy in anything
but quantities is logged and counted (``foreign_edits``). Etsy has no conditional write: an edit
landing between our read and our write (one request apart) is the one window left.

One request per listing at a time: a lease per listing taken by ``build`` and given back by
``parse`` (or after ``lease_s``, should the answer never come); ``group`` puts leased listings last
and offers nothing while every waiting listing is leased, and a ``build`` that meets a lease anyway
sends a read whose answer is not trusted (``probe``). Several of our SKUs in one listing go in one
write (``max_batch``, 20). Answers: 200 carries the written inventory, each SKU ok when it shows
our quantity; 429 and 5xx retry (``retry-after``); 401 drops the token; other 4xx fail the SKUs.
Rate: 10 requests/s (Etsy's default per-app limit, burst the same; 10,000 a day), cost 1 a request;
``x-remaining-this-second`` / ``x-remaining-today`` lower the budget (``budget_left``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.etsy import auth, inventory, receipts
from adapters.http_retry import retry_after
from engine.config import ChannelConfig
from engine.token_bucket import TokenBucket

log = logging.getLogger(__name__)

THROTTLE_PAUSE_S = 1.0
RATE_SAFETY = 0.9
"""Share of the rate the catalog import uses (the channel actor's ``rate_safety`` default)."""
TICKET = "skusync.etsy"
"""The request extension naming what a request was for: (``read`` | ``write`` | ``probe``, listing, lease)."""


def budget_left(response: httpx.Response) -> float | None:
    """Calls left now: the lower of ``x-remaining-this-second`` and ``x-remaining-today``."""
    found = []
    for name in ("x-remaining-this-second", "x-remaining-today"):
        try:
            found.append(max(0.0, float(response.headers[name])))
        except (KeyError, ValueError):
            continue
    return min(found) if found else None


def listing_of(update: ListingUpdate) -> int:
    listing = update.ids.get("listing_id") if hasattr(update.ids, "get") else None
    if type(listing) is not int:
        raise ValueError(f"{update.sku}: no listing_id (import the catalog)")
    return listing


@dataclass
class Copy:
    inventory: dict[str, Any]
    read_at: float
    fresh: bool


@dataclass
class Listings:
    """One channel's listings as this process last read them, and who holds each listing's lease."""

    leases: dict[int, tuple[int, float]] = field(default_factory=dict)
    copies: dict[int, Copy] = field(default_factory=dict)
    tickets: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    foreign_edits: int = 0

    def leased(self, listing: int, now: float) -> bool:
        held = self.leases.get(listing)
        return held is not None and held[1] > now

    def release(self, listing: int, lease: int) -> bool:
        """Give the lease back; False when it was no longer ours (it ran out and was taken again)."""
        if self.leases.get(listing, (0, 0.0))[0] != lease:
            return False
        del self.leases[listing]
        return True


_STATE: dict[str, Listings] = {}


@dataclass
class EtsyOutbound:
    """The Etsy ``OutboundAdapter`` (see the module docstring); ``for_channel`` binds the channel's
    listing state, batch and page sizes; ``clock`` (monotonic seconds) and ``sleep`` are injectable."""

    kind: str = "etsy"
    max_batch: int = 20
    default_rate: tuple[float, float] = (10.0, 10.0)
    page_size: int = 100
    fresh_s: float = 60.0
    lease_s: float = 15.0
    state: Listings = field(default_factory=Listings)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> EtsyOutbound:
        auth.tokens_for(channel).kick()
        timeout = float((channel.model_extra or {}).get("timeout_s") or 10.0)
        return replace(
            self,
            max_batch=int(getattr(channel, "max_batch", None) or self.max_batch),
            page_size=int(getattr(channel, "catalog_page_size", None) or self.page_size),
            lease_s=timeout + 5.0,
            state=_STATE.setdefault(channel.id, Listings()),
        )

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """One listing's updates per request, listings leased by a request in flight last; nothing
        (one empty group) while every waiting listing is leased."""
        by_listing: dict[int | str, list[ListingUpdate]] = {}
        for update in updates:
            found = update.ids.get("listing_id") if hasattr(update.ids, "get") else None
            # without a listing id, alone: build refuses it and the SKU fails with the reason
            by_listing.setdefault(found if type(found) is int else f"sku:{update.sku}", []).append(update)
        now = self.clock()
        free = [
            (lid, g)
            for lid, g in by_listing.items()
            if not (type(lid) is int and self.state.leased(lid, now))
        ]
        # listings holding a fresh read go first: their write is due, and a read left waiting
        # behind new reads would age past ``fresh_s`` and be read again
        free.sort(key=lambda pair: not (type(pair[0]) is int and self._fresh(pair[0], now)))
        return [g for _, g in free] or [[]]

    def _fresh(self, listing: int, now: float) -> bool:
        copy = self.state.copies.get(listing)
        return copy is not None and copy.fresh and now - copy.read_at <= self.fresh_s

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        listings = {listing_of(u) for u in updates}
        if len(listings) != 1 or len(updates) > self.max_batch:
            raise ValueError(f"one listing's 1..{self.max_batch} SKUs a request, not {len(updates)}")
        [listing] = listings
        token = auth.tokens_for(channel).require()
        url = f"{channel.base_url.rstrip('/')}{inventory.inventory_path(listing)}"
        headers = auth.headers(channel, token)
        now, state = self.clock(), self.state
        if state.leased(listing, now):
            return httpx.Request("GET", url, headers=headers, extensions={TICKET: ("probe", listing, 0)})
        lease = next(state.tickets)
        copy = state.copies.get(listing)
        if copy is not None and self._fresh(listing, now):
            body = inventory.put_body(copy.inventory, {u.sku: u.quantity for u in updates})
            copy.fresh = False
            state.leases[listing] = (lease, now + self.lease_s)
            headers["Content-Type"] = "application/json"
            ticket = ("write", listing, lease)
            return httpx.Request(
                "PUT", url, content=orjson.dumps(body), headers=headers, extensions={TICKET: ticket}
            )
        state.leases[listing] = (lease, now + self.lease_s)
        return httpx.Request("GET", url, headers=headers, extensions={TICKET: ("read", listing, lease)})

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        what, listing, lease = response.request.extensions.get(TICKET, ("probe", 0, 0))
        ours = self.state.release(listing, lease) if lease else False
        result = self._classify(response, updates, what, listing, ours)
        result.budget_available = budget_left(response)
        return result

    def _classify(
        self, response: httpx.Response, updates: list[ListingUpdate], what: str, listing: int, ours: bool
    ) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            pause = retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if status == 401:
            refused = response.request.headers.get("authorization", "").removeprefix("Bearer ")
            auth.forget_everywhere(refused)
            return PushResult(retry=skus)
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {_error(response)}"))
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return PushResult(retry=skus)
        if not isinstance(answer, dict):
            return PushResult(retry=skus)
        if what == "write":
            self.state.copies[listing] = Copy(answer, self.clock(), False)
            shown = inventory.listed(answer)
            ok = [u.sku for u in updates if shown.get(u.sku) == u.quantity]
            return PushResult(ok=ok, retry=[s for s in skus if s not in ok])
        if what == "read" and ours:
            self._adopt(listing, answer)
        shown = inventory.listed(answer)
        gone = {
            s: "SKU no longer in the listing's inventory (import the catalog again)"
            for s in skus
            if s not in shown
        }
        return PushResult(failed=gone, requeue=[s for s in skus if s not in gone])

    def _adopt(self, listing: int, answer: dict[str, Any]) -> None:
        """Keep a fresh read; one that differs from our last copy beyond quantities saw a seller's edit."""
        before = self.state.copies.get(listing)
        if before is not None and inventory.others(before.inventory) != inventory.others(answer):
            self.state.foreign_edits += 1
            log.info("etsy: listing %s was edited on Etsy since our last write; the edit is kept", listing)
        self.state.copies[listing] = Copy(answer, self.clock(), True)

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"listing_id", "product_id", "listed"}`` over every active listing (all pages)."""
        shop = receipts.shop_of(channel)
        limit = channel.rate_limit
        rate, burst = (limit.per_second, limit.burst) if limit else self.default_rate
        # the import is not paced by the channel actor's bucket: it keeps to the same rate itself
        bucket = TokenBucket(rate, burst, self.clock, RATE_SAFETY)

        async def paced() -> None:
            while not bucket.try_take(1.0):
                await self.sleep(max(0.005, bucket.wait_time(1.0)))

        out: dict[str, dict[str, Any]] = {}
        pages = inventory.pages(client, channel, shop, self.page_size, before=paced, sleep=self.sleep)
        async for page in pages:
            out.update(page)
        return out


def _error(response: httpx.Response) -> str:
    try:
        return str(orjson.loads(response.content).get("error", ""))[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:200]
