"""Login with Amazon access tokens: fetched from the refresh token, cached, refreshed before expiry.

As Amazon's own Java client does it (amzn/selling-partner-api-models
``clients/sellingpartner-api-aa-java``: ``LWAClient``, ``LWAAccessTokenCacheImpl``,
``LWAAuthorizationSigner``): POST ``{"grant_type": "refresh_token", "refresh_token", "client_id",
"client_secret"}`` as JSON to ``token_url``, read ``access_token`` and ``expires_in`` (3600 s), never
use a token within ``EXPIRY_MARGIN_S`` (60 s, the SDK's ``expiryAdjustment``) of its end, and send it
as ``x-amz-access-token``. A refresh starts ``REFRESH_MARGIN_S`` before that, in the background, so
a push never waits for one; ``current()`` is synchronous because ``OutboundAdapter.build`` is.
No token, refresh token or client secret is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from engine.config import ChannelConfig

log = logging.getLogger(__name__)

HEADER = "x-amz-access-token"
EXPIRY_MARGIN_S = 60.0
REFRESH_MARGIN_S = 300.0


class TokenError(RuntimeError):
    """LWA refused the credentials or could not be reached (the message holds no secret)."""


class TokenPending(RuntimeError):
    """No usable access token yet; one is being fetched (the push is retried with backoff)."""


def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value or "")


class LwaTokens:
    """One set of LWA credentials' access token. ``clock`` is injectable (unix seconds)."""

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        self.url = str(getattr(channel, "token_url", "") or "https://api.amazon.com/auth/o2/token")
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": _secret(getattr(channel, "refresh_token", None)),
            "client_id": _secret(getattr(channel, "client_id", None)),
            "client_secret": _secret(getattr(channel, "client_secret", None)),
        }
        self.clock = clock
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetches = 0
        self._task: asyncio.Task[None] | None = None

    def current(self) -> str | None:
        """The token if it is usable now; starts a background refresh when it is due."""
        if self.token is None or self.clock() >= self.expires_at - REFRESH_MARGIN_S:
            self.kick()
        return self._usable()

    def _usable(self) -> str | None:
        return (
            self.token
            if self.token is not None and self.clock() < self.expires_at - EXPIRY_MARGIN_S
            else None
        )

    def require(self) -> str:
        token = self.current()
        if token is None:
            raise TokenPending("LWA access token not fetched yet")
        return token

    def forget(self, token: str) -> None:
        """SP-API refused ``token`` (403): never send it again."""
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
        if token is None:
            await self.refresh(client)
            token = self._usable()
        if token is None:
            raise TokenError("LWA returned a token that is already expired")
        return token

    async def refresh(self, client: httpx.AsyncClient) -> None:
        if not all(self._form.values()):
            raise TokenError("set client_id, client_secret and refresh_token")
        try:
            response = await client.post(self.url, content=orjson.dumps(self._form), headers=_JSON)
        except httpx.HTTPError as exc:
            raise TokenError(f"LWA token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise TokenError(f"LWA answered HTTP {response.status_code}: {_lwa_error(response)}")
        try:
            body = orjson.loads(response.content)
            token, ttl = str(body["access_token"]), float(body.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise TokenError("LWA answer lacks access_token") from None
        self.token, self.expires_at = token, self.clock() + ttl
        self.fetches += 1

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    await self.refresh(client)
            except TokenError as exc:
                log.warning("amazon: LWA token refresh failed: %s", exc)


_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def _lwa_error(response: httpx.Response) -> str:
    """LWA's ``error`` code only (its description could echo input)."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
        return str(orjson.loads(response.content).get("error", ""))[:60]
    return ""


_REGISTRY: dict[tuple[str, str, str, str], LwaTokens] = {}


def tokens_for(channel: ChannelConfig) -> LwaTokens:
    """The process's token cache for ``channel``'s credentials (pushes, imports and reads share it)."""
    key = (
        channel.id,
        str(getattr(channel, "token_url", "")),
        _secret(getattr(channel, "client_id", None)),
        _secret(getattr(channel, "refresh_token", None)),
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = LwaTokens(channel)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
