"""eBay OAuth access tokens: user tokens from the seller's refresh token, application tokens from
the client credentials; cached and refreshed before expiry.

The request (developer.ebay.com/api-docs/static/oauth-refresh-token-request.html and
oauth-client-credentials-grant.html): ``POST token_url``, ``Content-Type:
application/x-www-form-urlencoded``, ``Authorization: Basic base64(client_id:client_secret)``, body
``grant_type=refresh_token&refresh_token=...&scope=...`` (user token, about 7200 s) or
``grant_type=client_credentials&scope=https://api.ebay.com/oauth/api_scope`` (application token,
what eBay's notification SDKs use to call ``getPublicKey``: eBay/event-notification-nodejs-sdk
lib/client.js ``getAppToken``). Answer ``{access_token, expires_in, token_type}``.

Pushes never wait for a token: ``current()`` is synchronous (``OutboundAdapter.build`` is) and
starts a background refresh ``REFRESH_MARGIN_S`` before expiry; reads ``await ensure()``; the
gateway's synchronous paths (public keys, an order fetched for unknown listings) use
``ensure_sync`` with a short timeout. No token, refresh token or client secret is ever logged or put
in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from engine.config import ChannelConfig

log = logging.getLogger(__name__)

EXPIRY_MARGIN_S = 60.0
REFRESH_MARGIN_S = 300.0
USER_SCOPES = (
    "https://api.ebay.com/oauth/api_scope/sell.inventory "
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment"
)
"""Scopes asked with a refresh (the ones the Inventory and Fulfillment calls need; eBay grants at
most what the seller consented to)."""
APP_SCOPE = "https://api.ebay.com/oauth/api_scope"
DEFAULT_TOKEN_URL = "https://api.ebay.com/identity/v1/oauth2/token"


class TokenError(RuntimeError):
    """eBay refused the credentials or could not be reached (the message holds no secret)."""


class TokenPending(RuntimeError):
    """No usable access token yet; one is being fetched (the push is retried with backoff)."""


def secret(value: Any) -> str:
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value or "")


class EbayTokens:
    """One grant's access token (``user=True``: refresh-token grant). ``clock`` is injectable."""

    def __init__(self, channel: ChannelConfig, user: bool, clock: Callable[[], float] = time.time) -> None:
        self.url = str(getattr(channel, "token_url", None) or DEFAULT_TOKEN_URL)
        client_id = secret(getattr(channel, "client_id", None))
        client_secret = secret(getattr(channel, "client_secret", None))
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        self._ready = bool(client_id and client_secret)
        if user:
            refresh = secret(getattr(channel, "refresh_token", None))
            self._ready = self._ready and bool(refresh)
            self._form = {"grant_type": "refresh_token", "refresh_token": refresh, "scope": USER_SCOPES}
        else:
            self._form = {"grant_type": "client_credentials", "scope": APP_SCOPE}
        self.user, self.clock = user, clock
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetches = 0
        self._task: asyncio.Task[None] | None = None

    def current(self) -> str | None:
        """The token if usable now; starts a background refresh when one is due."""
        if self.token is None or self.clock() >= self.expires_at - REFRESH_MARGIN_S:
            self.kick()
        return self._usable()

    def _usable(self) -> str | None:
        ok = self.token is not None and self.clock() < self.expires_at - EXPIRY_MARGIN_S
        return self.token if ok else None

    def require(self) -> str:
        token = self.current()
        if token is None:
            raise TokenPending("eBay access token not fetched yet")
        return token

    def forget(self, token: str) -> None:
        """eBay refused ``token`` (401): never send it again."""
        if token == self.token:
            self.token, self.expires_at = None, 0.0

    def kick(self) -> None:
        """Start a refresh on the running loop unless one runs (no loop: nothing to do)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._task = loop.create_task(self._refresh_quietly())

    async def ensure(self, client: httpx.AsyncClient) -> str:
        """A usable token, fetching one first when needed (reads and catalog imports await this)."""
        token = self._usable()
        return token if token is not None else await self.refresh(client)

    async def refresh(self, client: httpx.AsyncClient) -> str:
        self._check()
        try:
            response = await client.post(self.url, data=self._form, headers=self._headers)
        except httpx.HTTPError as exc:
            raise TokenError(f"eBay token endpoint unreachable: {type(exc).__name__}") from None
        return self._adopt(response)

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway's synchronous paths)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with httpx.Client(timeout=timeout_s) as client:
                    response = client.post(self.url, data=self._form, headers=self._headers)
            except httpx.HTTPError as exc:
                raise TokenError(f"eBay token endpoint unreachable: {type(exc).__name__}") from None
            token = self._adopt(response)
        return token

    def _check(self) -> None:
        if not self._ready:
            raise TokenError("set client_id, client_secret" + (" and refresh_token" if self.user else ""))

    def _adopt(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise TokenError(f"eBay token endpoint answered HTTP {response.status_code}: {_error(response)}")
        try:
            body = orjson.loads(response.content)
            token, ttl = str(body["access_token"]), float(body.get("expires_in", 7200))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise TokenError("eBay token answer lacks access_token") from None
        self.token, self.expires_at = token, self.clock() + ttl
        self.fetches += 1
        if self._usable() is None:
            raise TokenError("eBay returned a token that is already expired")
        return token

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    await self.refresh(client)
            except TokenError as exc:
                log.warning("ebay: token refresh failed: %s", exc)


def _error(response: httpx.Response) -> str:
    """eBay's ``error`` code only (its description could echo input)."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
        return str(orjson.loads(response.content).get("error", ""))[:60]
    return ""


_REGISTRY: dict[tuple[str, ...], EbayTokens] = {}


def tokens_for(channel: ChannelConfig, user: bool = True) -> EbayTokens:
    """The process's token cache for ``channel``'s credentials (pushes, reads and the gateway share it)."""
    key = (
        channel.id,
        "user" if user else "app",
        str(getattr(channel, "token_url", "")),
        secret(getattr(channel, "client_id", None)),
        secret(getattr(channel, "refresh_token", None)) if user else "",
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = EbayTokens(channel, user)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
