"""Reading from SP-API: per-operation rate buckets, the access token, retries.

SP-API limits each operation separately, per selling partner and application (a token bucket per
operation: developer-docs.amazon.com "Usage Plans and Rate Limits"), and names the plan applied in
``x-amzn-RateLimit-Limit`` "when available" (each operation's description in the API models).
So every read here waits on its operation's bucket, which starts at the published default and
adopts that header when it comes: a seller granted more goes faster, a simulator set slower is
obeyed. A 429 waits ``Retry-After`` (SP-API documents none: one second per missing token
otherwise); a 403 drops the token (expired or revoked) and fetches a new one once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.amazon.lwa import HEADER, LwaTokens
from adapters.http_retry import backoff, retry_after
from adapters.reading import ReadError

RATES: dict[str, tuple[float, float]] = {
    # (requests per second, burst), from each operation's "Usage Plan" in the API models
    "searchOrders": (0.0056, 20.0),  # models/orders-api-model/orders_2026-01-01.json
    "getOrder": (0.5, 30.0),  # same file
    "searchListingsItems": (5.0, 5.0),  # models/listings-items-api-model/listingsItems_2021-08-01.json
    "getListingsItem": (5.0, 10.0),  # same file
    "patchListingsItem": (5.0, 5.0),  # same file
    "createFeedDocument": (0.5, 15.0),  # models/feeds-api-model/feeds_2021-06-30.json
    "createFeed": (0.0083, 15.0),  # same file (JSON_LISTINGS_FEED has its own 5 per 5 min)
    "getFeed": (2.0, 15.0),  # same file
    "cancelFeed": (2.0, 15.0),  # same file
    "getFeedDocument": (0.0222, 10.0),  # same file
}


@dataclass
class OpBucket:
    """One operation's token bucket as we believe SP-API keeps it."""

    rate: float
    burst: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    level: float = 0.0
    """Below zero when calls are reserved ahead of the refill (``order_fetch``'s threads queue so)."""
    at: float | None = None

    def wait_time(self) -> float:
        now = self.clock()
        if self.at is None:  # full at first use
            self.level, self.at = self.burst, now
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.level >= 1 else (1 - self.level) / self.rate

    def take(self) -> None:
        self.level -= 1

    def adopt(self, response: httpx.Response) -> None:
        """The rate SP-API says it applied (``x-amzn-RateLimit-Limit``), when it says one."""
        try:
            rate = float(response.headers.get("x-amzn-ratelimit-limit", ""))
        except ValueError:
            return
        if rate > 0:
            self.rate = rate


_BUCKETS: dict[tuple[str, str], OpBucket] = {}


def bucket(seller: str, operation: str) -> OpBucket:
    """The process's bucket for one seller's operation (catalog imports and reads share it)."""
    key = (seller, operation)
    if key not in _BUCKETS:
        _BUCKETS[key] = OpBucket(*RATES[operation])
    return _BUCKETS[key]


async def sp_get(
    client: httpx.AsyncClient,
    tokens: LwaTokens,
    op: OpBucket,
    url: str,
    params: list[tuple[str, str | int | float | bool | None]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
    before: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """GET ``url`` until it answers 200; its JSON object. ``before`` runs before every try (the
    reconciliation's own pacing). Errors never show the URL's query or any header."""
    refreshed = False
    for attempt in range(max_attempts):
        while (wait := op.wait_time()) > 0:
            await sleep(wait)
        op.take()
        if before is not None:
            await before()
        token = await tokens.ensure(client)
        try:
            response = await client.get(
                url, params=params, headers={HEADER: token, "Accept": "application/json"}
            )
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        op.adopt(response)
        if response.status_code == 200:
            body = response.json()
            if not isinstance(body, dict):
                raise ReadError("SP-API answered a non-object")
            return body
        if response.status_code == 403 and not refreshed:
            tokens.forget(token)
            refreshed = True
            continue
        if response.status_code == 429 or response.status_code >= 500:
            op.level = min(op.level, 0.0)  # SP-API's bucket is empty: refill before the next try
            await sleep(retry_after(response) or backoff(attempt))
            continue
        raise ReadError(f"SP-API answered HTTP {response.status_code}: {response.text[:200]}")
    raise ReadError(f"gave up on an SP-API read after {max_attempts} attempts")
