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
page said 10), cost 1 a request. ``JSON_LISTINGS_FEED`` bulk corrections are not built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.amazon import listings
from adapters.amazon.lwa import HEADER, LwaTokens, forget_everywhere, tokens_for
from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import retry_after
from engine.config import ChannelConfig

THROTTLE_PAUSE_S = 1.0
"""Pause after a 429 without ``Retry-After``: one second refills the 5/s bucket."""


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


def patch_body(product: str, quantity: int) -> dict[str, Any]:
    value = [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]
    patch = {"op": "merge", "path": "/attributes/fulfillment_availability", "value": value}
    return {"productType": product, "patches": [patch]}


@dataclass
class AmazonOutbound:
    """The Amazon ``OutboundAdapter`` (see the module docstring). ``for_channel`` binds the channel's
    token cache and starts fetching a token at once; ``sleep`` is injectable."""

    kind: str = "amazon"
    max_batch: int = 1
    default_rate: tuple[float, float] = (5.0, 5.0)
    tokens: LwaTokens | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def for_channel(self, channel: ChannelConfig) -> AmazonOutbound:
        tokens = tokens_for(channel)
        tokens.kick()  # the channel actor's first push should find a token waiting
        return replace(self, tokens=tokens)

    def cost(self, updates: list[ListingUpdate]) -> float:
        return float(len(updates))

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """One PATCH; ``TokenPending`` (retried with backoff) while the first token is fetched."""
        if len(updates) != 1:
            raise ValueError(f"patchListingsItem sets one SKU, not {len(updates)}")
        update = updates[0]
        _, market = listings.seller_and_marketplace(channel)
        token = (self.tokens or tokens_for(channel)).require()
        body = patch_body(product_type(channel, update.ids), update.quantity)
        return httpx.Request(
            "PATCH",
            listings.item_url(channel, update.sku),
            params={"marketplaceIds": market},
            content=orjson.dumps(body),
            headers={HEADER: token, "Content-Type": "application/json", "Accept": "application/json"},
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
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
