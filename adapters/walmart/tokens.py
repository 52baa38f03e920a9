"""Walmart Marketplace access tokens: client credentials, cached, refreshed before expiry.

Token API (developer.walmart.com "Get access token"): ``POST /v3/token`` with HTTP Basic
``client_id:client_secret``, form ``grant_type=client_credentials`` and the ``WM_SVC.NAME`` /
``WM_QOS.CORRELATION_ID`` headers; the answer ``{access_token, token_type, expires_in}`` lives 900 s.
The token goes in ``WM_SEC.ACCESS_TOKEN``. Caching and refresh timing are ``adapters.oauth_tokens``'.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable

import httpx

from adapters.oauth_tokens import AccessTokens, TokenError, secret
from engine.config import ChannelConfig

HEADER = "WM_SEC.ACCESS_TOKEN"
SERVICE = "Walmart Marketplace"


def service_name(channel: ChannelConfig) -> str:
    return str(getattr(channel, "service_name", None) or SERVICE)


def headers(channel: ChannelConfig, token: str) -> dict[str, str]:
    """What every Marketplace API call carries: the token, the service name, a fresh correlation id."""
    return {
        HEADER: token,
        "WM_SVC.NAME": service_name(channel),
        "WM_QOS.CORRELATION_ID": uuid.uuid4().hex,
        "Accept": "application/json",
    }


class WalmartTokens(AccessTokens):
    name = "Walmart"
    default_ttl_s = 900.0

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        url = str(getattr(channel, "token_url", None) or f"{channel.base_url.rstrip('/')}/v3/token")
        super().__init__(url, clock)
        self._id = secret(getattr(channel, "client_id", None))
        self._secret = secret(getattr(channel, "client_secret", None))
        self._service = service_name(channel)

    def _check(self) -> None:
        if not self._id or not self._secret:
            raise TokenError("set client_id and client_secret")

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        basic = base64.b64encode(f"{self._id}:{self._secret}".encode()).decode()
        return await client.post(
            self.url,
            data={"grant_type": "client_credentials"},
            headers={
                "Authorization": f"Basic {basic}",
                "WM_SVC.NAME": self._service,
                "WM_QOS.CORRELATION_ID": uuid.uuid4().hex,
                "Accept": "application/json",
            },
        )


_REGISTRY: dict[tuple[str, str, str], WalmartTokens] = {}


def tokens_for(channel: ChannelConfig) -> WalmartTokens:
    """The process's token cache for ``channel``'s credentials (pushes, feeds and reads share it)."""
    key = (
        channel.id,
        str(getattr(channel, "token_url", "") or channel.base_url),
        secret(getattr(channel, "client_id", None)),
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = WalmartTokens(channel)
    return tokens


def forget_everywhere(token: str) -> None:
    for tokens in _REGISTRY.values():
        tokens.forget(token)
