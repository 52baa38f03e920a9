"""Amazon outbound: ``patchListingsItem`` setting the merchant-fulfilled quantity, one SKU a request.

``PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=<marketplace_id>`` with
``{"productType", "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
"value": [{"fulfillment_channel_code": "DEFAULT", "quantity": N}]}]}`` (``ListingsItemPatchRequest``
requires ``productType`` and ``patches``; ``merge`` keeps the attribute's other fields, such as
``lead_time_to_ship_max_days``: models/listings-items-api-model/listingsItems_2021-08-01.json,
MARKETPLACES.md). Absolute quantities, no compare-and-set (Amazon's listings have none), so the
last write wins as on WooCommerce; the channel actor serialises writes per SKU.

Answers: 200 ``status: ACCEPTED`` is written (Amazon applies it asynchronously, within minutes),
``INVALID`` is refused for good with its first ERROR issue; 429 (``QuotaExceeded``) and 5xx are
retried (SP-API sends no ``Retry-After``: ``THROTTLE_PAUSE_S``); 403 (expired or revoked token)
drops the token and retries, so the next request carries a fresh one; other 4xx fail.
Extra: ``catalog_page_size`` (``searchListingsItems`` pages of the import, 20).
Rate: 5 requests/s, burst 5 per selling partner (the operation's published usage plan; an older
page said 10), cost 1 a request.

Bulk (``feed``, ``feed_flow``): a backlog of at least ``feed_min_items`` SKUs (500; 0 turns feeds
off) goes as one ``JSON_LISTINGS_FEED`` of up to ``feed_max_items`` (25,000, the feed's maximum)
while the feed budget (5 per 5 minutes) lasts (``group``), costing 1 of the patches' budget. Why 500:
at 5 patches/s such a backlog holds the patch lane for 100 s or more, while a feed takes it out at
once, leaving the lane to live sales; Amazon publishes no processing time for the feed (unverified:
minutes), so smaller backlogs go faster by patches. The feed is followed to its end (``follow``:
document, upload, createFeed, getFeed every ``feed_poll_s`` (30) for at most ``feed_timeout_s``
(3600)) and its processing report mapped back to SKUs by messageId (``feed.classify``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.amazon import feed, listings
from adapters.amazon.feed_flow import FeedFlow
from adapters.amazon.lwa import HEADER, LwaTokens, forget_everywhere, tokens_for
from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import retry_after
from engine.config import ChannelConfig

THROTTLE_PAUSE_S = 1.0
"""Pause after a 429 without ``Retry-After``: one second refills the 5/s bucket."""
FEED_MIN, FEED_POLL_S, FEED_TIMEOUT_S = 500, 30.0, 3600.0
PATCH_RESERVE = 100
"""The most urgent pending SKUs kept out of a feed and patched (20 s of the 5/s lane): a SKU in a
feed is in flight until the feed is processed (a 30 s poll at least, minutes on Amazon), and its
next change waits for that. The channel orders pending SKUs sold-out first, then oldest, so a
flash sale's hot SKUs lead the backlog; with every SKU fed, a flash sale on 4 Amazon accounts'
5,000 listings oversold 184 units on Amazon against 44 with patches only (benchmarks/flash_sale,
2026-12-06 13:28)."""


def product_type(channel: ChannelConfig, ids: Any) -> str:
    """``productType`` for a listing patch: the channel's ``product_type`` key, else the listing's own
    from the catalog import. Which one Amazon wants for an offer-only patch is unverified (the
    interface's example is ``PRODUCT``): this is the one place to change it."""
    configured = getattr(channel, "product_type", None)
    found = ids.get("product_type") if hasattr(ids, "get") else None
    chosen = configured or found
    if not chosen:
        raise ValueError("no productType: set product_type or import the catalog")
    return str(chosen)


def _patch(quantity: int) -> dict[str, Any]:
    value = [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]
    return {"op": "merge", "path": "/attributes/fulfillment_availability", "value": value}


def patch_body(product: str, quantity: int) -> dict[str, Any]:
    return {"productType": product, "patches": [_patch(quantity)]}


@dataclass
class AmazonOutbound:
    """The Amazon ``OutboundAdapter`` (see the module docstring). ``for_channel`` binds the channel's
    token cache, feed settings and feed budget, and starts fetching a token at once; ``sleep`` and
    ``clock`` are injectable."""

    kind: str = "amazon"
    max_batch: int = 1
    default_rate: tuple[float, float] = (5.0, 5.0)
    feed_min: int = 0
    patch_reserve: int = PATCH_RESERVE
    poll_s: float = FEED_POLL_S
    timeout_s: float = FEED_TIMEOUT_S
    tokens: LwaTokens | None = None
    feeds: feed.FeedBudget | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    feed_started: float | None = None
    """When the feed in flight was built (None: none). One feed at a time, as Amazon's Feeds
    best practices ask ("wait for previous feeds to be completed"), so feeds never hold more than
    one of the channel's in-flight slots; a feed whose answer never came (a transport error on its
    first request) stops counting after ``timeout_s``."""

    def for_channel(self, channel: ChannelConfig) -> AmazonOutbound:
        tokens = tokens_for(channel)
        tokens.kick()  # the channel actor's first push should find a token waiting
        minimum = getattr(channel, "feed_min_items", None)
        minimum = FEED_MIN if minimum is None else int(minimum)
        most = int(getattr(channel, "feed_max_items", None) or feed.MAX_ITEMS)
        return replace(
            self,
            tokens=tokens,
            feed_min=minimum,
            patch_reserve=_int_key(channel, "feed_patch_reserve", PATCH_RESERVE),
            max_batch=most if minimum > 0 else 1,
            poll_s=float(getattr(channel, "feed_poll_s", None) or FEED_POLL_S),
            timeout_s=float(getattr(channel, "feed_timeout_s", None) or FEED_TIMEOUT_S),
            feeds=feed.FeedBudget(clock=self.clock),
        )

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """One feed when the backlog is large enough and a feed is affordable, else one SKU a call.
        The first ``patch_reserve`` updates (the most urgent) stay out of the feed, as patches."""
        feeds_left = self.feeds is not None and self.feeds.available() >= 1
        busy = self.feed_started is not None and self.clock() - self.feed_started < self.timeout_s
        urgent, rest = updates[: self.patch_reserve], updates[self.patch_reserve :]
        if 0 < self.feed_min <= len(updates) and len(rest) > 1 and feeds_left and not busy:
            return [rest[: self.max_batch], *([u] for u in urgent)]
        return [[u] for u in updates]

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0  # one call either way: a patch of one SKU, or a feed's createFeedDocument

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One PATCH, or a feed's first step for more; ``TokenPending`` (retried with backoff)
        while the first token is fetched."""
        if not 1 <= len(updates) <= self.max_batch:
            raise ValueError(f"an Amazon push carries 1..{self.max_batch} SKUs, not {len(updates)}")
        seller, market = listings.seller_and_marketplace(channel)
        token = (self.tokens or tokens_for(channel)).require()
        if len(updates) > 1:
            messages = [(u.sku, product_type(channel, u.ids), _patch(u.quantity)) for u in updates]
            if self.feeds is not None:
                self.feeds.take()
            self.feed_started = self.clock()
            document = feed.document(seller, messages)
            auth = {HEADER: token, "Accept": "application/json"}
            return feed.document_request(channel.base_url, auth, document)
        update = updates[0]
        return httpx.Request(
            "PATCH",
            listings.item_url(channel, update.sku),
            params={"marketplaceIds": market},
            content=orjson.dumps(patch_body(product_type(channel, update.ids), update.quantity)),
            headers={HEADER: token, "Content-Type": "application/json", "Accept": "application/json"},
        )

    async def follow(
        self, client: httpx.AsyncClient, channel: ChannelConfig, response: httpx.Response
    ) -> httpx.Response:
        """A feed's remaining steps (``feed_flow``); a patch's answer unchanged."""
        if feed.stage_of(response.request) != "document":
            return response
        _, market = listings.seller_and_marketplace(channel)
        flow = FeedFlow(
            client,
            channel.base_url,
            market,
            self.tokens or tokens_for(channel),
            poll_s=self.poll_s,
            timeout_s=self.timeout_s,
            sleep=self.sleep,
            clock=self.clock,
            budget=self.feeds,
        )
        return await flow.run(response)

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        stage = feed.stage_of(response.request)
        if stage is not None:
            self.feed_started = None  # the feed's flow ended: the next backlog may go as a feed
        if status == 429 or status >= 500:
            return PushResult(
                retry=skus,
                retry_after_s=retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None),
            )
        if status == 403:
            refused = response.request.headers.get(HEADER, "")
            if self.tokens is not None:
                self.tokens.forget(refused)
            forget_everywhere(refused)
            return PushResult(retry=skus)
        if stage is not None and (stage in feed.RETRIED_STAGES or status in (200, 201, 202)):
            return feed.classify(response, updates, self.poll_s)
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {_errors(response)}"))
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return PushResult(retry=skus)
        if isinstance(answer, dict) and answer.get("status") == "ACCEPTED":
            return PushResult(ok=skus)
        return PushResult(failed=dict.fromkeys(skus, _issues(answer)))

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"product_type"}`` for every listing (``searchListingsItems``, all pages)."""
        _, market = listings.seller_and_marketplace(channel)
        tokens = self.tokens or tokens_for(channel)
        out: dict[str, dict[str, Any]] = {}
        # The channel's catalog_page_size (the conformance suite checks the import pages through).
        size = getattr(channel, "catalog_page_size", None)
        async for items in listings.search(client, channel, tokens, "summaries", self.sleep, page_size=size):
            for item in items:
                out[item["sku"]] = {"product_type": listings.summary_of(item, market).get("productType")}
        return out


def _errors(response: httpx.Response) -> str:
    try:
        errors = orjson.loads(response.content).get("errors") or []
        first = errors[0]
        return f"{first.get('code')}: {first.get('message')}"[:200]
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return response.text[:200]


def _issues(answer: Any) -> str:
    issues = answer.get("issues") if isinstance(answer, dict) else None
    errors = [i for i in issues or [] if isinstance(i, dict) and i.get("severity") == "ERROR"]
    first = (errors or issues or [{}])[0]
    status = answer.get("status") if isinstance(answer, dict) else None
    return f"{status}: {first.get('code')}: {first.get('message')}"[:200]


def _int_key(channel: ChannelConfig, key: str, default: int) -> int:
    value = getattr(channel, key, None)
    return default if value is None else int(value)
