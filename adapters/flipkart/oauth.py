"""Flipkart Seller API access tokens: the client-credentials grant of the seller's own application.

``GET <token_url>?grant_type=client_credentials&scope=Seller_Api`` with HTTP Basic
``app_id:app_secret``, answered ``{access_token, token_type, expires_in, scope}``; the token is sent as
``Authorization: Bearer`` (seller.flipkart.com/api-docs "Authentication"; python-flipkart's
``get_token_from_client_credentials``). Caching and refresh timing are ``adapters.oauth_tokens``'.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from adapters import blocking_http
from adapters.oauth_tokens import AccessTokens, TokenError, TokenPending, secret
from engine.config import ChannelConfig

__all__ = ["FlipkartTokens", "TokenError", "TokenPending", "forget_everywhere", "tokens_for"]

TOKEN_URL = "https://api.flipkart.net/oauth-service/oauth/token"
SCOPE = "Seller_Api"
GRANT = {"grant_type": "client_credentials", "scope": SCOPE}


class FlipkartTokens(AccessTokens):
    name = "Flipkart OAuth"
    default_ttl_s = 3600.0

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(str(getattr(channel, "token_url", None) or TOKEN_URL), clock)
        self._app = (
            str(getattr(channel, "app_id", None) or ""),
            secret(getattr(channel, "app_secret", None)),
        )

    def _check(self) -> None:
        if not all(self._app):
            raise TokenError("set app_id and app_secret")

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        # Flipkart's token endpoint is a GET with the grant in the query (its docs' curl example)
        return await client.get(self.url, params=GRANT, auth=self._app)

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway's worker-thread fetches)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with blocking_http.client(timeout_s) as client:
                    response = client.get(self.url, params=GRANT, auth=self._app)
            except httpx.HTTPError as exc:
                raise TokenError(f"{self.name} token endpoint unreachable: {type(exc).__name__}") from None
            token = self.adopt(response)
        return token


_REGISTRY: dict[tuple[str, str, str], FlipkartTokens] = {}


def tokens_for(channel: ChannelConfig) -> FlipkartTokens:
    """The process's token cache for ``channel``'s application (pushes, imports and reads share it)."""
    key = (channel.id, str(getattr(channel, "token_url", "")), str(getattr(channel, "app_id", "")))
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = FlipkartTokens(channel)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
