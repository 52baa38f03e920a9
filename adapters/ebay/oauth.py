"""eBay OAuth access tokens: user tokens from the seller's refresh token, application tokens from
the client credentials; cached and refreshed before expiry.

The request (developer.ebay.com/api-docs/static/oauth-refresh-token-request.html and
oauth-client-credentials-grant.html): ``POST token_url``, ``Content-Type:
application/x-www-form-urlencoded``, ``Authorization: Basic base64(client_id:client_secret)``, body
``grant_type=refresh_token&refresh_token=...&scope=...`` (user token, about 7200 s) or
``grant_type=client_credentials&scope=https://api.ebay.com/oauth/api_scope`` (application token,
what eBay's notification SDKs use to call ``getPublicKey``: eBay/event-notification-nodejs-sdk
lib/client.js ``getAppToken``). Answer ``{access_token, expires_in, token_type}``.

Caching and refresh timing are ``adapters.oauth_tokens``'; the gateway's synchronous paths (public
keys, an order fetched for unknown listings) use ``ensure_sync`` with a short timeout.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx

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
    "REFRESH_MARGIN_S",
    "EbayTokens",
    "TokenError",
    "TokenPending",
    "forget_everywhere",
    "secret",
    "tokens_for",
]

USER_SCOPES = (
    "https://api.ebay.com/oauth/api_scope/sell.inventory "
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment"
)
"""Scopes asked with a refresh (the ones the Inventory and Fulfillment calls need; eBay grants at
most what the seller consented to)."""
APP_SCOPE = "https://api.ebay.com/oauth/api_scope"
DEFAULT_TOKEN_URL = "https://api.ebay.com/identity/v1/oauth2/token"


class EbayTokens(AccessTokens):
    """One grant's access token (``user=True``: refresh-token grant). ``clock`` is injectable."""

    name = "eBay token endpoint"
    default_ttl_s = 7200.0

    def __init__(self, channel: ChannelConfig, user: bool, clock: Callable[[], float] = time.time) -> None:
        super().__init__(str(getattr(channel, "token_url", None) or DEFAULT_TOKEN_URL), clock)
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
        self.user = user

    def _check(self) -> None:
        if not self._ready:
            raise TokenError("set client_id, client_secret" + (" and refresh_token" if self.user else ""))

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.url, data=self._form, headers=self._headers)

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway's synchronous paths)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with blocking_http.client(timeout_s) as client:
                    response = client.post(self.url, data=self._form, headers=self._headers)
            except httpx.HTTPError as exc:
                raise TokenError(f"eBay token endpoint unreachable: {type(exc).__name__}") from None
            token = self.adopt(response)
        return token


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
