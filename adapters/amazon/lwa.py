"""Login with Amazon access tokens: fetched from the refresh token, cached, refreshed before expiry.

As Amazon's own Java client does it (amzn/selling-partner-api-models
``clients/sellingpartner-api-aa-java``: ``LWAClient``, ``LWAAccessTokenCacheImpl``,
``LWAAuthorizationSigner``): POST ``{"grant_type": "refresh_token", "refresh_token", "client_id",
"client_secret"}`` as JSON to ``token_url``, read ``access_token`` and ``expires_in`` (3600 s), never
use a token within ``EXPIRY_MARGIN_S`` (60 s, the SDK's ``expiryAdjustment``) of its end, and send it
as ``x-amz-access-token``. The caching and refresh timing are ``adapters.oauth_tokens``'.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson

from adapters import blocking_http
from adapters.oauth_tokens import (
    EXPIRY_MARGIN_S,
    REFRESH_MARGIN_S,
    AccessTokens,
    TokenError,
    TokenPending,
    secret,
)
from engine.config import ChannelConfig

__all__ = [
    "EXPIRY_MARGIN_S",
    "HEADER",
    "REFRESH_MARGIN_S",
    "LwaTokens",
    "TokenError",
    "TokenPending",
    "forget_everywhere",
    "tokens_for",
]

HEADER = "x-amz-access-token"
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class LwaTokens(AccessTokens):
    """One set of LWA credentials' access token. ``clock`` is injectable (unix seconds)."""

    name = "LWA"
    default_ttl_s = 3600.0

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        url = str(getattr(channel, "token_url", "") or "https://api.amazon.com/auth/o2/token")
        super().__init__(url, clock)
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": secret(getattr(channel, "refresh_token", None)),
            "client_id": secret(getattr(channel, "client_id", None)),
            "client_secret": secret(getattr(channel, "client_secret", None)),
        }

    def _check(self) -> None:
        if not all(self._form.values()):
            raise TokenError("set client_id, client_secret and refresh_token")

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.url, content=orjson.dumps(self._form), headers=_JSON)

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway fetching an order)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with blocking_http.client(timeout_s) as client:
                    response = client.post(self.url, content=orjson.dumps(self._form), headers=_JSON)
            except httpx.HTTPError as exc:
                raise TokenError(f"LWA token endpoint unreachable: {type(exc).__name__}") from None
            token = self.adopt(response)
        return token


_REGISTRY: dict[tuple[str, str, str, str], LwaTokens] = {}


def tokens_for(channel: ChannelConfig) -> LwaTokens:
    """The process's token cache for ``channel``'s credentials (pushes, imports and reads share it)."""
    key = (
        channel.id,
        str(getattr(channel, "token_url", "")),
        secret(getattr(channel, "client_id", None)),
        secret(getattr(channel, "refresh_token", None)),
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = LwaTokens(channel)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
