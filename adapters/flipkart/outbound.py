"""Flipkart outbound: ``POST /sellers/listings/v3/update/inventory``, absolute quantities, 10 SKUs a call.

The body is keyed by SKU: ``{"<sku>": {"product_id", "locations": [{"id", "inventory": N}]}}``
(``product_id`` and ``locations[].id``/``inventory`` mandatory, at most 10 SKUs: api-docs
listing-api-docs/v3 UpdateListingsInventoryAPI; MARKETPLACES.md). The answer is a map of SKU to
``{"status": SUCCESS | WARNING | FAILURE, "errors": [...]}`` and "a 200 can hold failures": each
SKU is judged by its own entry (SUCCESS and WARNING written, FAILURE refused for good with its
first error; a SKU the answer leaves out is retried). No compare-and-set: the last write wins, the
channel actor serialises writes per SKU and sends the newest value.

429 and 5xx are retried (``Retry-After`` when sent), 401 drops the token and retries with a new
one, 400 fails the call's SKUs. Rate: Flipkart publishes no limit (``default_rate_guess``): 5
calls/s, burst 5, cost 1 a call; set ``rate_limit`` per channel to what the account is granted.
Only the synced location is sent (``listings.location``): unverified whether Flipkart keeps the
other locations of a listing as they were (one location per listing is the common case).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.flipkart import listings, oauth
from adapters.flipkart.api import url
from adapters.http_retry import retry_after
from engine.config import ChannelConfig

PATH = "/sellers/listings/v3/update/inventory"
THROTTLE_PAUSE_S = 1.0
WRITTEN = frozenset({"SUCCESS", "WARNING"})


def request_item(update: ListingUpdate) -> dict[str, Any]:
    ids = update.ids if hasattr(update.ids, "get") else {}
    product, where = ids.get("product_id"), ids.get("location_id")
    if not product or not where:
        raise ValueError(f"{update.sku}: no product_id / location_id (import the catalog)")
    return {"product_id": product, "locations": [{"id": where, "inventory": update.quantity}]}


@dataclass
class FlipkartOutbound:
    """The Flipkart ``OutboundAdapter``; ``for_channel`` binds the channel's token cache, per-call
    count and import page size, and starts fetching a token at once."""

    kind: str = "flipkart"
    max_batch: int = 10
    default_rate: tuple[float, float] = (5.0, 5.0)
    default_rate_guess: str = "Flipkart publishes no rate limit for update/inventory"
    page_size: int = listings.DETAILS_MAX
    tokens: oauth.FlipkartTokens | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> FlipkartOutbound:
        tokens = oauth.tokens_for(channel)
        tokens.kick()  # the channel actor's first push should find a token waiting
        return replace(
            self,
            tokens=tokens,
            max_batch=int(getattr(channel, "max_batch", None) or self.max_batch),
            page_size=int(getattr(channel, "catalog_page_size", None) or self.page_size),
        )

    def warnings(self, channel: ChannelConfig) -> list[str]:
        """Start-up warnings: keys without which notifications or pushes cannot work."""
        out = []
        if not getattr(channel, "app_id", None) or not getattr(channel, "app_secret", None):
            out.append(
                f"channel {channel.id}: no app_id/app_secret: no notification verifies, no push is sent"
            )
        if not getattr(channel, "endpoint_url", None):
            out.append(
                f"channel {channel.id}: no endpoint_url (the URL registered with Flipkart is signed): "
                "every notification will be refused (401)"
            )
        return out

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        if not 1 <= len(updates) <= self.max_batch:
            raise ValueError(f"update/inventory carries 1..{self.max_batch} SKUs, not {len(updates)}")
        token = (self.tokens or oauth.tokens_for(channel)).require()
        body = {u.sku: request_item(u) for u in updates}
        return httpx.Request(
            "POST",
            url(channel, PATH),
            content=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
            },
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            pause = retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if status == 401:
            refused = response.request.headers.get("authorization", "").removeprefix("Bearer ")
            if self.tokens is not None:
                self.tokens.forget(refused)
            oauth.forget_everywhere(refused)
            return PushResult(retry=skus)
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return PushResult(retry=skus)
        return classify(answer, skus)

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"product_id", "location_id"}`` for every listing with the synced location."""
        out: dict[str, dict[str, Any]] = {}
        async for page in listings.pages(client, channel, self.page_size, None, self.sleep):
            for sku, (listing, loc) in page.items():
                out[sku] = {"product_id": listing.get("product_id"), "location_id": loc["id"]}
        return out


def classify(answer: Any, skus: list[str]) -> PushResult:
    """Each SKU by its own entry of the answer's map (see the module docstring)."""
    per_sku = answer if isinstance(answer, dict) else {}
    result = PushResult()
    for sku in skus:
        entry = per_sku.get(sku)
        state = entry.get("status") if isinstance(entry, dict) else None
        if state in WRITTEN:
            result.ok.append(sku)
        elif state == "FAILURE":
            result.failed[sku] = _first_error(entry)
        else:
            result.retry.append(sku)  # Flipkart did not say it was written
    return result


def _first_error(entry: Any) -> str:
    errors = entry.get("errors") if isinstance(entry, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return f"FAILURE: {first.get('code')}: {first.get('description') or first.get('message')}"[:200]
