"""Walmart outbound: absolute quantities per SKU, or a bulk inventory feed for a large backlog.

One SKU a call (developer.walmart.com Inventory API; MARKETPLACES.md, Walmart): ``PUT
/v3/inventory?sku=<sku>`` with ``{"sku", "quantity": {"unit": "EACH", "amount": N}}`` at the default
ship node, or, with ``ship_node`` set, ``PUT /v3/inventories/{sku}`` with ``{"inventories":
{"nodes": [{"shipNode", "inputQty": {"unit": "EACH", "amount": N}}]}}``; headers
``WM_SEC.ACCESS_TOKEN``, ``WM_SVC.NAME``, ``WM_QOS.CORRELATION_ID``. No compare-and-set: the last
write wins, the channel actor serialises writes per SKU.

A backlog of at least ``feed_min_items`` SKUs (500; 0 turns feeds off) goes as one bulk feed of up
to ``feed_max_items`` (1000) while the feed budget (10 an hour) lasts (``group``); the feed is
followed to its end (``follow``: the channel actor's hook for channels that answer a push later)
and its items mapped back to SKUs (``adapters.walmart.feed``).

Answers: 200 is written (a multi-node answer's node marked failed fails the SKU); 429 and 5xx are
retried after ``Retry-After`` (else one second on 429); 401 drops the token and retries; other 4xx
fail the SKU with Walmart's first error. ``X-Current-Token-Count`` (the calls left in the window)
lowers the channel's budget. Rate: Walmart's Marketplace pages publish no per-minute figure for
the inventory update (the supplier table's ``PUT v3/inventory`` 1500/min is for 1P suppliers), so
the default is a guess (``default_rate_guess``), corrected by the token headers and 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from adapters.base import ListingUpdate, PushResult
from adapters.http_retry import retry_after
from adapters.walmart import feed, inventory
from adapters.walmart.tokens import HEADER, WalmartTokens, forget_everywhere, headers, tokens_for
from engine.config import ChannelConfig

THROTTLE_PAUSE_S = 1.0
FEED_MIN, FEED_MAX, FEED_POLL_S, FEED_TIMEOUT_S = 500, 1000, 15.0, 1800.0


def ship_node(channel: ChannelConfig) -> str | None:
    node = getattr(channel, "ship_node", None)
    return str(node) if node else None


def put_request(channel: ChannelConfig, token: str, update: ListingUpdate) -> httpx.Request:
    base, node = channel.base_url.rstrip("/"), ship_node(channel)
    amount = {"unit": "EACH", "amount": update.quantity}
    if node is None:
        url, params = f"{base}/v3/inventory", {"sku": update.sku}
        body: dict[str, Any] = {"sku": update.sku, "quantity": amount}
    else:
        url, params = f"{base}/v3/inventories/{quote(update.sku, safe='')}", {}
        body = {"inventories": {"nodes": [{"shipNode": node, "inputQty": amount}]}}
    sent = headers(channel, token) | {"Content-Type": "application/json"}
    return httpx.Request("PUT", url, params=params, content=orjson.dumps(body), headers=sent)


@dataclass
class WalmartOutbound:
    """The Walmart ``OutboundAdapter`` (see the module docstring); ``for_channel`` binds the
    channel's token cache, feed settings and feed budget. ``sleep`` and ``clock`` are injectable."""

    kind: str = "walmart"
    max_batch: int = FEED_MAX
    default_rate: tuple[float, float] = (5.0, 5.0)
    default_rate_guess: str = (
        "Walmart's Marketplace rate-limiting pages give no figure for PUT /v3/inventory: 5 calls/s "
        "assumed, lowered by X-Current-Token-Count and 429 Retry-After"
    )
    feed_min: int = FEED_MIN
    poll_s: float = FEED_POLL_S
    timeout_s: float = FEED_TIMEOUT_S
    page_size: int = inventory.PAGE_SIZE
    tokens: WalmartTokens | None = None
    feeds: feed.FeedBudget | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def for_channel(self, channel: ChannelConfig) -> WalmartOutbound:
        tokens = tokens_for(channel)
        tokens.kick()
        minimum = getattr(channel, "feed_min_items", None)
        minimum = FEED_MIN if minimum is None else int(minimum)
        most = int(getattr(channel, "feed_max_items", None) or FEED_MAX)
        return replace(
            self,
            tokens=tokens,
            feed_min=minimum,
            max_batch=most if minimum > 0 else 1,
            poll_s=float(getattr(channel, "feed_poll_s", None) or FEED_POLL_S),
            timeout_s=float(getattr(channel, "feed_timeout_s", None) or FEED_TIMEOUT_S),
            page_size=int(getattr(channel, "catalog_page_size", None) or self.page_size),
            feeds=feed.FeedBudget(float(getattr(channel, "feeds_per_hour", None) or feed.FEEDS_PER_HOUR)),
        )

    def group(self, updates: list[ListingUpdate]) -> list[list[ListingUpdate]]:
        """One feed when the backlog is large enough and a feed is affordable, else one SKU a call."""
        feeds_left = self.feeds is not None and self.feeds.available() >= 1
        if 0 < self.feed_min <= len(updates) and feeds_left:
            return [updates[: self.max_batch]]
        return [[u] for u in updates]

    def cost(self, updates: list[ListingUpdate]) -> float:
        return 1.0  # one call either way: a PUT of one SKU, or one feed submission

    def build(self, channel: ChannelConfig, updates: list[ListingUpdate]) -> httpx.Request:
        """A PUT for one SKU, a feed for more; ``TokenPending`` while the first token is fetched."""
        if not 1 <= len(updates) <= self.max_batch:
            raise ValueError(f"a Walmart push carries 1..{self.max_batch} SKUs, not {len(updates)}")
        token = (self.tokens or tokens_for(channel)).require()
        if len(updates) == 1:
            return put_request(channel, token, updates[0])
        if self.feeds is not None:
            self.feeds.take()
        return feed.request(channel.base_url, headers(channel, token), updates, ship_node(channel))

    async def follow(
        self, client: httpx.AsyncClient, channel: ChannelConfig, response: httpx.Response
    ) -> httpx.Response:
        """A feed submission's final status (polled); any other answer unchanged."""
        if not feed.is_submission(response.request):
            return response
        tokens = self.tokens or tokens_for(channel)

        async def fresh_headers() -> dict[str, str]:
            return headers(channel, await tokens.ensure(client))

        return await feed.follow(
            client,
            response,
            fresh_headers,
            poll_s=self.poll_s,
            timeout_s=self.timeout_s,
            sleep=self.sleep,
            clock=self.clock,
        )

    def parse(self, response: httpx.Response, updates: list[ListingUpdate]) -> PushResult:
        skus = [u.sku for u in updates]
        status = response.status_code
        if status == 429 or status >= 500:
            pause = retry_after(response) or (THROTTLE_PAUSE_S if status == 429 else None)
            return PushResult(retry=skus, retry_after_s=pause)
        if status == 401:
            refused = response.request.headers.get(HEADER, "")
            if self.tokens is not None:
                self.tokens.forget(refused)
            forget_everywhere(refused)
            return PushResult(retry=skus)
        if status not in (200, 201, 202):
            return PushResult(failed=dict.fromkeys(skus, f"HTTP {status}: {_errors(response)}"))
        if feed.is_submission(response.request) or feed.is_status(response.request):
            return feed.classify(response, updates, self.poll_s)
        result = _put_result(response, skus)
        result.budget_available = _tokens_left(response)
        return result

    async def import_catalog(
        self, client: httpx.AsyncClient, channel: ChannelConfig
    ) -> dict[str, dict[str, Any]]:
        """SKU -> ``{"nodes": [ship nodes]}`` for every inventory (``GET /v3/inventories``, all pages)."""
        out: dict[str, dict[str, Any]] = {}
        async for page in inventory.pages(client, channel, self.page_size, sleep=self.sleep):
            out.update({sku: {"nodes": [n["shipNode"] for n in nodes]} for sku, nodes in page.items()})
        return out


def _put_result(response: httpx.Response, skus: list[str]) -> PushResult:
    """A multi-node answer lists each node's ``status``; any node not ``Success`` fails the SKU."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return PushResult(ok=skus)  # 200 is the write; the body only echoes it
    nodes = answer.get("nodes") if isinstance(answer, dict) else None
    bad = [
        n for n in nodes or [] if isinstance(n, dict) and str(n.get("status", "Success")).upper() != "SUCCESS"
    ]
    if bad:
        errors = bad[0].get("errors") or [{}]
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        return PushResult(failed=dict.fromkeys(skus, f"node {bad[0].get('shipNode')}: {first.get('code')}"))
    return PushResult(ok=skus)


def _tokens_left(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["x-current-token-count"]))
    except (KeyError, ValueError):
        return None


def _errors(response: httpx.Response) -> str:
    try:
        errors = orjson.loads(response.content).get("errors") or []
        first = errors[0] if isinstance(errors, list) else (errors.get("error") or [{}])[0]
        return f"{first.get('code')}: {first.get('description')}"[:200]
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError):
        return response.text[:200]
