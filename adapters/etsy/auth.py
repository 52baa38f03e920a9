"""Etsy OAuth 2.0 access tokens and the headers every Open API v3 call carries.

Token refresh (developers.etsy.com/documentation/essentials/authentication, "Requesting a Refresh
OAuth Token"): ``POST token_url`` form ``grant_type=refresh_token&client_id=<keystring>&
refresh_token=...`` -> ``{access_token, token_type, expires_in (3600), refresh_token}``. Every call
sends ``x-api-key`` and ``Authorization: Bearer``. Which ``x-api-key`` form the account needs
(keystring, or ``keystring:shared_secret`` since 2025) is unverified: ``api_key`` decides.
Caching and refresh timing are ``adapters.oauth_tokens``'. Refresh-token rotation is not handled.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from adapters import blocking_http
from adapters.oauth_tokens import AccessTokens, TokenError, TokenPending, secret
from engine.config import ChannelConfig

__all__ = ["EtsyTokens", "TokenError", "TokenPending", "api_key", "headers", "secret", "tokens_for"]

DEFAULT_TOKEN_URL = "https://api.etsy.com/v3/public/oauth/token"
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


def api_key(channel: ChannelConfig) -> str:
    """``x-api-key``: the keystring, or ``keystring:shared_secret`` when ``client_secret`` is set."""
    keystring = secret(getattr(channel, "client_id", None))
    shared = secret(getattr(channel, "client_secret", None))
    return f"{keystring}:{shared}" if shared else keystring


def headers(channel: ChannelConfig, token: str) -> dict[str, str]:
    return {"x-api-key": api_key(channel), "Authorization": f"Bearer {token}", "Accept": "application/json"}


class EtsyTokens(AccessTokens):
    name = "Etsy token endpoint"
    default_ttl_s = 3600.0

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(str(getattr(channel, "token_url", None) or DEFAULT_TOKEN_URL), clock)
        self._form = {
            "grant_type": "refresh_token",
            "client_id": secret(getattr(channel, "client_id", None)),
            "refresh_token": secret(getattr(channel, "refresh_token", None)),
        }

    def _check(self) -> None:
        if not all(self._form.values()):
            raise TokenError("set client_id and refresh_token")

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.url, data=self._form, headers=_FORM)

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway fetching a receipt)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with blocking_http.client(timeout_s) as client:
                    response = client.post(self.url, data=self._form, headers=_FORM)
            except httpx.HTTPError as exc:
                raise TokenError(f"Etsy token endpoint unreachable: {type(exc).__name__}") from None
            token = self.adopt(response)
        return token


_REGISTRY: dict[tuple[str, ...], EtsyTokens] = {}


def tokens_for(channel: ChannelConfig) -> EtsyTokens:
    """The process's token cache for ``channel``'s credentials (pushes, reads and the gateway share it)."""
    key = (
        channel.id,
        str(getattr(channel, "token_url", "")),
        secret(getattr(channel, "client_id", None)),
        secret(getattr(channel, "refresh_token", None)),
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = EtsyTokens(channel)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
