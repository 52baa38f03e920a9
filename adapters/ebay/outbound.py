"""eBay outbound: Inventory API ``bulkUpdatePriceQuantity`` setting absolute quantities.

``POST /sell/inventory/v1/bulk_update_price_quantity`` with ``{"requests": [{"sku",
"shipToLocationAvailability": {"quantity": N}, "offers": [{"offerId", "availableQuantity": N}]}]}``
(developer.ebay.com sell/inventory bulkUpdatePriceQuantity; MARKETPLACES.md). The listing shows the
lower of the two quantities, so the same N goes in both, every time (one value, never one field
without the other). Answer 200 or 207 ``{"responses": [{"statusCode", "sku", "offerId", "errors"}]}``:
each SKU is judged by its own entries (a 2xx can hide per-item failures). No compare-and-set: the
last write wins, the channel actor serialises writes per SKU and sends the newest value.

Per call: eBay's pages conflict (one SKU with up to 25 offers, or up to 25 SKUs); ``per_call`` is
the one place that decides, default 1 SKU (the conservative reading), raised by the channel's
``max_batch`` key. Rate: eBay publishes a daily quota only (Inventory API 2,000,000 calls a day,
about 23/s), so the budget is 23 calls/s, burst 23, cost 1 a call. 429 and 5xx are retried
(``Retry-After`` when given), 401 drops the user token and retries with a fresh one; a per-item
``errorId`` 25001 (eBay's system error) is retried, other per-item errors fail that SKU.
Every accepted update counts a revision of its listings (``adapters.ebay.revisions``).

Listings not made through the Inventory API (the channel's ``trading_listings``) go by Trading
``ReviseInventoryStatus``, up to 4 a call (``adapters.ebay.trading``). ``group`` sends each pending
SKU to its API: the first pending SKU's kind first (the channel actor orders them, sold-out first),
Inventory API SKUs ``per_call`` a call, Trading SKUs 4 a call while the Trading lane's own daily
budget (``trading.CallBudget``, 5,000 calls a day unless ``trading_daily_calls`` says more) has a
call; when only Trading SKUs wait and it has none, ``group`` offers nothing and the channel actor
asks again after its idle wait (at most 5 s). So that Inventory API SKUs are not held behind Trading
SKUs waiting for that budget, ``max_batch`` looks past up to ``LOOKAHEAD`` of them. A Trading call
costs the channel's bucket one unit like any call. A Trading call-limit error drains that budget
and requeues its SKUs (no attempt counted: the budget is the backoff; eBay never answers stale, so
the requeue's other effect, on stale-risk batching, never applies), without pausing the Inventory
API lane.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.ebay import inventory, oauth, trading
from adapters.ebay.revisions import Revisions, revisions_for
from adapters.http_retry import retry_after
from engine.config import ChannelConfig

PATH = "/sell/inventory/v1/bulk_update_price_quantity"
THROTTLE_PAUSE_S = 1.0
RETRYABLE_ERRORS = frozenset({25001})
"""Per-item ``errorId`` values worth sending again (25001: "A system error has occurred")."""
DAILY_QUOTA = 2_000_000
LOOKAHEAD = 256
"""Pending SKUs beyond one call that ``group`` sees when the channel has Trading listings."""

log = logging.getLogger(__name__)


def per_call(channel: ChannelConfig) -> int:
    """SKUs a ``bulkUpdatePriceQuantity`` call carries: the channel's ``max_batch``, else 1."""
    return int(getattr(channel, "max_batch", None) or 1)


def request_item(update: ListingUpdate) -> dict[str, Any]:
    item: dict[str, Any] = {"sku": update.sku, "shipToLocationAvailability": {"quantity": update.quantity}}
    offers = list(update.ids.get("offers") or []) if hasattr(update.ids, "get") else []
    if offers:
        item["offers"] = [{"offerId": o, "availableQuantity": update.quantity} for o in offers]
    return item


@dataclass
class EbayOutbound:
    """The eBay ``OutboundAdapter``; ``for_channel`` binds the channel's tokens, per-call count,
    page size, revision counter and Trading budget, and starts fetching a token at once.
    ``max_batch`` is what one request may carry of either kind; ``per_call`` (None: ``max_batch``)
    bounds a ``bulkUpdatePriceQuantity``."""

    kind: str = "ebay"
    max_batch: int = 1
    default_rate: tuple[float, float] = (23.0, 23.0)
    page_size: int = 100
    per_call: int | None = None
    tokens: oauth.EbayTokens | None = None
    revisions: Revisions | None = None
    trading_budget: trading.CallBudget | None = None
    reserved: frozenset[str] | None = None
    """The SKUs of the Trading call last offered and paid for, until it is built (``_pay_trading``)."""
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def for_channel(self, channel: ChannelConfig) -> EbayOutbound:
        tokens = oauth.tokens_for(channel)
        tokens.kick()
        bulk = per_call(channel)
        legacy = len(trading.legacy_listings(channel))
        daily = int(getattr(channel, "trading_daily_calls", None) or trading.DAILY_CALLS)
        # The channel actor offers ``max_batch`` pending SKUs to ``group``: beyond a call's worth it
        # looks past Trading SKUs waiting for their budget, so Inventory API SKUs behind them go on.
        lookahead = min(legacy, LOOKAHEAD)
        return replace(
            self,
            tokens=tokens,
            per_call=bulk,
            max_batch=max(bulk, trading.PER_CALL) + lookahead if legacy else bulk,
            page_size=int(getattr(channel, "catalog_page_size", None) or self.page_size),
            revisions=revisions_for(channel.id),
            trading_budget=trading.CallBudget(daily, self.clock) if legacy else None,
        )

    def _bulk_limit(self) -> int:
        return self.per_call if self.per_call is not None else self.max_batch

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """Requests for ``updates``, one API each, the first update's API first; a Trading call only
        when the Trading budget pays for it (``[[]]``: nothing to send now)."""
        legacy = [u for u in updates if trading.listing_of(u) is not None]
        inventory_calls = _chunks([u for u in updates if trading.listing_of(u) is None], self._bulk_limit())
        first_legacy = bool(legacy) and legacy[0] is updates[0]
        if legacy and (first_legacy or not inventory_calls) and self._pay_trading({u.sku for u in updates}):
            revise = _chunks(legacy, trading.PER_CALL)
            self.reserved = frozenset(u.sku for u in revise[0])
            return revise + inventory_calls
        return inventory_calls or [[]]

    def _pay_trading(self, pending: set[str]) -> bool:
        """Whether a Trading call may be offered, spending the budget once per call sent.

        The channel actor may ask again before it sends what was offered (after a wait, or not at
        all), and sends in tasks that build the request later: an offer keeps its call paid for
        while its SKUs are still pending (not sent), and a build or a new offer after its SKUs
        left (sent) pays anew. Without that, offers made before the first build all went out
        on one call's budget."""
        if self.trading_budget is None:
            return True
        if self.reserved is not None and self.reserved <= pending:
            return True
        self.reserved = None
        if self.trading_budget.available() < 1.0:
            return False
        self.trading_budget.take()
        return True

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        legacy = [trading.listing_of(u) is not None for u in updates]
        token = (self.tokens or oauth.tokens_for(channel)).require()
        if updates and all(legacy):
            self.reserved = None  # the call offered is going out: the next one pays
            return trading.request(channel, token, updates)
        if any(legacy):
            raise ValueError("a request carries Inventory API SKUs or Trading listings, not both")
        if not 1 <= len(updates) <= self._bulk_limit():
            raise ValueError(
                f"bulkUpdatePriceQuantity carries 1..{self._bulk_limit()} SKUs, not {len(updates)}"
            )
        body = {"requests": [request_item(u) for u in updates]}
        return httpx.Request(
            "POST",
            f"{channel.base_url.rstrip('/')}{PATH}",
            content=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        if trading.is_trading(response.request):
            result = self._parse_trading(response, updates)
        else:
            result = self._parse_bulk(response, updates)
        if self.revisions is not None:
            by_sku = {u.sku: u for u in updates}
            self.revisions.record(lid for sku in result.ok for lid in _listings(by_sku[sku]))
        return result

    def _parse_bulk(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            pause = retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if status == 401:
            self._forget(response.request.headers.get("authorization", "").removeprefix("Bearer "))
            return PushResult(retry=skus)
        if status not in (200, 207):
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {_errors(response)}"))
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return PushResult(retry=skus)
        return classify(answer, updates)

    def _parse_trading(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        """Trading answers errors inside an HTTP 200; a throttle holds back the Trading lane only."""
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429:
            self._hold_trading()
            return PushResult(requeue=skus)
        if status >= 500:
            return PushResult(retry=skus)
        if status != 200:
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {response.text[:200]}"))
        try:
            answer = trading.read_answer(response.content)
        except ValueError:
            return PushResult(retry=skus)
        result, signal = trading.classify(answer, updates)
        if signal == "throttled":
            self._hold_trading()
        elif signal == "token":
            self._forget(response.request.headers.get("x-ebay-api-iaf-token", ""))
        return result

    def _hold_trading(self) -> None:
        if self.trading_budget is not None:
            self.trading_budget.drain()
        log.warning("ebay: Trading API call limit reached; Trading listings wait for the daily budget")

    def _forget(self, refused: str) -> None:
        if self.tokens is not None:
            self.tokens.forget(refused)
        oauth.forget_everywhere(refused)

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"offers", "listings", "listed"}`` for every inventory item (all pages), and
        SKU -> ``{"trading", "listings"}`` for the channel's Trading listings. A SKU that is both
        goes by the Inventory API (the Trading API refuses Inventory API listings)."""
        out: dict[str, dict[str, Any]] = {}
        async for page in inventory.pages(client, channel, self.page_size, sleep=self.sleep):
            out.update(page)
        for sku, listing in trading.legacy_listings(channel).items():
            if sku in out:
                log.warning("ebay: %s is an Inventory API item; its trading_listings entry is ignored", sku)
                continue
            out[sku] = trading.catalog_ids(listing)
        return out


def classify(answer: Any, updates: list[ListingUpdate]) -> PushResult:
    """Each SKU by its own ``responses`` entries: all 200 is ok; a retryable error retries; any
    other error fails it; a SKU with no entry is retried (eBay did not say it was written)."""
    entries = answer.get("responses") if isinstance(answer, dict) else None
    per_sku: dict[str, list[dict[str, Any]]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("sku"), str):
            per_sku.setdefault(entry["sku"], []).append(entry)
    result = PushResult()
    for update in updates:
        mine = per_sku.get(update.sku)
        if not mine:
            result.retry.append(update.sku)
            continue
        errors = [e for entry in mine if entry.get("statusCode") != 200 for e in entry.get("errors") or [{}]]
        if not errors:
            result.ok.append(update.sku)
        elif all(isinstance(e, dict) and e.get("errorId") in RETRYABLE_ERRORS for e in errors):
            result.retry.append(update.sku)
        else:
            first = errors[0] if isinstance(errors[0], dict) else {}
            result.failed[update.sku] = f"{first.get('errorId')}: {first.get('message')}"[:200]
    return result


def _chunks(updates: list[ListingUpdate], size: int) -> list[list[ListingUpdate]]:
    return [updates[i : i + size] for i in range(0, len(updates), max(1, size))]


def _listings(update: ListingUpdate) -> list[str]:
    found = list(update.ids.get("listings") or []) if hasattr(update.ids, "get") else []
    return [str(x) for x in found] or [f"sku:{update.sku}"]


def _errors(response: httpx.Response) -> str:
    try:
        first = (orjson.loads(response.content).get("errors") or [{}])[0]
        return f"{first.get('errorId')}: {first.get('message')}"[:200]
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return response.text[:200]
