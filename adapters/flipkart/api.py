"""Reading the Flipkart Seller API: the bearer token, retries, the caller's pacing.

Flipkart publishes no rate limit for these reads; a 429 or 5xx waits ``Retry-After`` (else a capped
backoff) and tries again, a 401 drops the token (expired or revoked) and fetches a new one once.
Errors never show a header or the request body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.flipkart.oauth import tokens_for
from adapters.http_retry import backoff, retry_after
from adapters.reading import ReadError
from engine.config import ChannelConfig

DEFAULT_BASE = "https://api.flipkart.net"


def url(channel: ChannelConfig, path: str) -> str:
    return f"{(channel.base_url or DEFAULT_BASE).rstrip('/')}{path}"


async def call(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    method: str,
    path: str,
    *,
    body: Any = None,
    before: Callable[[], Awaitable[None]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """``method path`` (JSON ``body`` if given) until it answers 200; its JSON object."""
    tokens = tokens_for(channel)
    refreshed = False
    for attempt in range(max_attempts):
        if before is not None:
            await before()
        token = await tokens.ensure(client)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            response = await client.request(method, url(channel, path), json=body, headers=headers)
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        if response.status_code == 200:
            answer = response.json()
            if not isinstance(answer, dict):
                raise ReadError("Flipkart answered a non-object")
            return answer
        if response.status_code == 401 and not refreshed:
            tokens.forget(token)
            refreshed = True
            continue
        if response.status_code == 429 or response.status_code >= 500:
            await sleep(retry_after(response) or backoff(attempt))
            continue
        raise ReadError(
            f"Flipkart {path.split('?')[0][:60]} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    raise ReadError(f"gave up on a Flipkart read after {max_attempts} attempts")
