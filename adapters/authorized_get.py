"""A marketplace read as the seller: GET until 200 with an OAuth access token (``AccessTokens``).

The kinds whose reads carry a refreshed access token (eBay, Walmart, Etsy) share this loop: a 401
drops the token and fetches a new one once, 429 and 5xx wait ``Retry-After`` (else a backoff) and
try again, a transport error backs off and tries again, anything else is a ``ReadError``. Errors
name the marketplace and path, never the query or the headers (tokens, seller ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from adapters.http_retry import backoff, retry_after
from adapters.oauth_tokens import AccessTokens
from adapters.reading import ReadError

Before = Callable[[], Awaitable[None]]
"""Awaited before each request: the caller's rate budget."""
Params = Mapping[str, Any] | list[tuple[str, Any]]


async def nothing() -> None:
    return None


async def get_object(
    client: httpx.AsyncClient,
    tokens: AccessTokens,
    url: str,
    params: Params,
    headers: Callable[[str], Mapping[str, str]],
    *,
    label: str,
    before: Before = nothing,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """GET ``url`` with ``headers(token)`` until 200; its JSON object. ``label`` names the read in
    errors (``"eBay /sell/inventory/v1/offer"``)."""
    refreshed = False
    for attempt in range(max_attempts):
        await before()
        token = await tokens.ensure(client)
        try:
            response = await client.get(url, params=params, headers=headers(token))
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        if response.status_code == 200:
            body = response.json()
            if not isinstance(body, dict):
                raise ReadError(f"{label} answered a non-object")
            return body
        if response.status_code == 401 and not refreshed:
            tokens.forget(token)
            refreshed = True
            continue
        if response.status_code == 429 or response.status_code >= 500:
            await sleep(retry_after(response) or backoff(attempt))
            continue
        raise ReadError(f"{label} answered HTTP {response.status_code}: {response.text[:200]}")
    raise ReadError(f"gave up on {label} after {max_attempts} attempts")
