"""An OAuth access token cached for one grant, refreshed before it expires: what every kind that
authenticates with short-lived tokens shares (Amazon's Login with Amazon, eBay's OAuth).

Pushes never wait for a token: ``current()`` is synchronous (``OutboundAdapter.build`` is) and
starts a background refresh ``REFRESH_MARGIN_S`` before expiry; a token is never used within
``EXPIRY_MARGIN_S`` of its end (Amazon's Java client's ``expiryAdjustment``); reads ``await
ensure()``. A kind supplies only its request (``_post``) and what its credentials need
(``_check``). No token, refresh token or client secret is ever logged or put in an error message.
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

log = logging.getLogger(__name__)

EXPIRY_MARGIN_S = 60.0
REFRESH_MARGIN_S = 300.0


class TokenError(RuntimeError):
    """The token endpoint refused the credentials or could not be reached (no secret in the message)."""


class TokenPending(RuntimeError):
    """No usable access token yet; one is being fetched (the push is retried with backoff)."""


def secret(value: Any) -> str:
    """A config value as a plain string, whether a ``SecretStr`` or not."""
    return str(value.get_secret_value()) if hasattr(value, "get_secret_value") else str(value or "")


class AccessTokens:
    """One grant's access token. Subclasses set ``name``, ``default_ttl_s`` and implement ``_post``
    (and ``_check`` when credentials can be missing). ``clock`` is injectable (unix seconds)."""

    name = "OAuth"
    default_ttl_s = 3600.0

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url, self.clock = url, clock
        self.token: str | None = None
        self.expires_at = 0.0
        self.fetches = 0
        self._task: asyncio.Task[None] | None = None

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        raise NotImplementedError

    def _check(self) -> None:
        """Raise ``TokenError`` naming the missing credential keys (never their values)."""

    def current(self) -> str | None:
        """The token if it is usable now; starts a background refresh when it is due."""
        if self.token is None or self.clock() >= self.expires_at - REFRESH_MARGIN_S:
            self.kick()
        return self._usable()

    def _usable(self) -> str | None:
        ok = self.token is not None and self.clock() < self.expires_at - EXPIRY_MARGIN_S
        return self.token if ok else None

    def require(self) -> str:
        token = self.current()
        if token is None:
            raise TokenPending(f"{self.name} access token not fetched yet")
        return token

    def forget(self, token: str) -> None:
        """The API refused ``token`` (401 / 403): never send it again."""
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
            response = await self._post(client)
        except httpx.HTTPError as exc:
            raise TokenError(f"{self.name} token endpoint unreachable: {type(exc).__name__}") from None
        return self.adopt(response)

    def adopt(self, response: httpx.Response) -> str:
        """Take the token endpoint's answer ``{access_token, expires_in}``; ``TokenError`` otherwise."""
        if response.status_code != 200:
            raise TokenError(f"{self.name} answered HTTP {response.status_code}: {_error(response)}")
        try:
            body = orjson.loads(response.content)
            token, ttl = str(body["access_token"]), float(body.get("expires_in", self.default_ttl_s))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise TokenError(f"{self.name} answer lacks access_token") from None
        self.token, self.expires_at = token, self.clock() + ttl
        self.fetches += 1
        if self._usable() is None:
            raise TokenError(f"{self.name} returned a token that is already expired")
        return token

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    await self.refresh(client)
            except TokenError as exc:
                log.warning("%s token refresh failed: %s", self.name, exc)


def _error(response: httpx.Response) -> str:
    """The answer's ``error`` code only (its description could echo input)."""
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
        return str(orjson.loads(response.content).get("error", ""))[:60]
    return ""
