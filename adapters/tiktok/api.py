"""Calling TikTok Shop's Open API (version 202309): signed requests, the answer envelope, throttling.

A request carries ``app_key``, ``timestamp`` (unix seconds), ``shop_cipher`` (shop-scoped calls)
and ``sign`` (``adapters.tiktok.signing.request_sign``) in its query, the access token in header
``x-tts-access-token``, JSON bodies as ``application/json`` (EcomPHP/tiktokshop-php src/Client.php
``modifyRequestBeforeSend``). Every answer is ``{code, message, request_id, data}``; ``code`` 0 is
success (src/Resource.php ``call``); codes starting 105 or 360 are credential errors
(``handleErrorResponse``), so the token is dropped and fetched again.

Rate limits are not published in the sources (MARKETPLACES.md: *unverified*, read from responses,
configurable): HTTP 429, or a code in ``THROTTLE_CODES``, is a throttle, waited out by its
``Retry-After`` (else ``THROTTLE_PAUSE_S``); ``throttled`` is the one place that decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson

from adapters.http_retry import backoff, retry_after
from adapters.reading import ReadError
from adapters.tiktok.signing import request_sign
from adapters.tiktok.tokens import TikTokTokens, TokenError, secret, tokens_for
from engine.config import ChannelConfig

DEFAULT_BASE = "https://open-api.tiktokglobalshop.com"
TOKEN_HEADER = "x-tts-access-token"
THROTTLE_CODES = frozenset({36009004})
"""Answer codes read as "too many requests" besides HTTP 429 (unverified: TikTok publishes no list
the sources show)."""
THROTTLE_PAUSE_S = 1.0
Before = Callable[[], Awaitable[None]]


def throttled(status: int, code: Any) -> bool:
    return status == 429 or code in THROTTLE_CODES


def credential_error(status: int, code: Any) -> bool:
    return status == 401 or str(code)[:3] in ("105", "360")


def build(
    channel: ChannelConfig,
    token: str,
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    clock: Callable[[], float] = time.time,
) -> httpx.Request:
    """One signed Open API request (``body`` JSON-encoded once, so the bytes signed are the bytes sent)."""
    content = orjson.dumps(body) if body is not None else b""
    params: dict[str, Any] = {"app_key": str(getattr(channel, "app_key", None) or ""), **(query or {})}
    params["timestamp"] = int(clock())
    cipher = getattr(channel, "shop_cipher", None)
    if cipher:
        params["shop_cipher"] = str(cipher)
    params["sign"] = request_sign(secret(getattr(channel, "app_secret", None)), path, params, content)
    headers = {TOKEN_HEADER: token, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    base = (channel.base_url or DEFAULT_BASE).rstrip("/")
    return httpx.Request(method, f"{base}{path}", params=params, content=content, headers=headers)


def envelope(response: httpx.Response) -> tuple[Any, str, dict[str, Any]]:
    """``(code, message, data)``; code None when the answer is not TikTok's JSON envelope."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, response.text[:200], {}
    if not isinstance(answer, dict):
        return None, "answer is not an object", {}
    data = answer.get("data")
    return answer.get("code"), str(answer.get("message", ""))[:200], data if isinstance(data, dict) else {}


async def call(
    client: httpx.AsyncClient,
    channel: ChannelConfig,
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    *,
    before: Before | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """A read until TikTok answers code 0; its ``data``. Throttles, 5xx and transport errors wait
    and retry; a credential error fetches a new token once; anything else is ``ReadError``."""
    tokens: TikTokTokens = tokens_for(channel)
    refreshed = False
    for attempt in range(max_attempts):
        if before is not None:
            await before()
        try:
            token = await tokens.ensure(client)
        except TokenError as exc:
            raise ReadError(str(exc)) from None
        try:
            response = await client.send(build(channel, token, method, path, query, body))
        except httpx.TransportError:
            await sleep(backoff(attempt))
            continue
        code, message, data = envelope(response)
        if response.status_code == 200 and code == 0:
            return data
        if throttled(response.status_code, code) or response.status_code >= 500:
            await sleep(retry_after(response) or max(THROTTLE_PAUSE_S, backoff(attempt)))
            continue
        if credential_error(response.status_code, code) and not refreshed:
            tokens.forget(token)
            refreshed = True
            continue
        raise ReadError(f"TikTok Shop {path} answered HTTP {response.status_code} code {code}: {message}")
    raise ReadError(f"gave up on TikTok Shop {path} after {max_attempts} attempts")
