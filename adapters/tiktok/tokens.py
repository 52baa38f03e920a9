"""TikTok Shop access tokens: refreshed from the shop's refresh token, cached, never logged.

``GET token_url?app_key=&app_secret=&refresh_token=&grant_type=refresh_token`` answers ``{code,
message, data {access_token, access_token_expire_in, refresh_token, ...}}`` with ``code`` 0 on
success (EcomPHP/tiktokshop-php src/Auth.php ``refreshNewToken``). ``access_token_expire_in`` is
read as a unix time when it is later than now, else as seconds to live (sources show both readings:
``expiry`` is the one place that decides). Without a ``refresh_token`` the channel's
``access_token`` is used as given. Caching and refresh timing are ``adapters.oauth_tokens``'.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson

from adapters import blocking_http
from adapters.oauth_tokens import AccessTokens, TokenError, TokenPending, secret
from engine.config import ChannelConfig

__all__ = ["TikTokTokens", "TokenError", "TokenPending", "secret", "tokens_for"]

DEFAULT_TOKEN_URL = "https://auth.tiktok-shops.com/api/v2/token/refresh"
STATIC_TTL_S = 10 * 365 * 86_400.0


def expiry(value: float, now: float) -> float:
    """When a token ends: ``access_token_expire_in`` as a unix time if it lies ahead, else as a TTL."""
    return value if value > now else now + value


class TikTokTokens(AccessTokens):
    name = "TikTok Shop token endpoint"
    default_ttl_s = 7 * 86_400.0

    def __init__(self, channel: ChannelConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(str(getattr(channel, "token_url", None) or DEFAULT_TOKEN_URL), clock)
        self._query = {
            "app_key": str(getattr(channel, "app_key", None) or ""),
            "app_secret": secret(getattr(channel, "app_secret", None)),
            "refresh_token": secret(getattr(channel, "refresh_token", None)),
            "grant_type": "refresh_token",
        }
        static = secret(getattr(channel, "access_token", None))
        if not self._query["refresh_token"] and static:
            self.token, self.expires_at = static, clock() + STATIC_TTL_S

    def _check(self) -> None:
        if not all(self._query.values()):
            raise TokenError("set app_key, app_secret and refresh_token (or access_token)")

    async def _post(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(self.url, params=self._query)

    def adopt(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise TokenError(f"{self.name} answered HTTP {response.status_code}")
        try:
            answer = orjson.loads(response.content)
            code, data = answer.get("code"), answer.get("data") or {}
            token, ends = str(data["access_token"]), float(data.get("access_token_expire_in", 0))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            raise TokenError(f"{self.name} answer lacks data.access_token") from None
        if code != 0:
            raise TokenError(f"{self.name} answered code {str(code)[:20]}")
        now = self.clock()
        self.token, self.expires_at = token, expiry(ends, now) if ends > 0 else now + self.default_ttl_s
        self.fetches += 1
        if self._usable() is None:
            raise TokenError(f"{self.name} returned a token that is already expired")
        return token

    def ensure_sync(self, timeout_s: float) -> str:
        """As ``ensure``, blocking at most ``timeout_s`` (the gateway's order fetch)."""
        token = self._usable()
        if token is None:
            self._check()
            try:
                with blocking_http.client(timeout_s) as client:
                    response = client.get(self.url, params=self._query)
            except httpx.HTTPError as exc:
                raise TokenError(f"{self.name} unreachable: {type(exc).__name__}") from None
            token = self.adopt(response)
        return token


_REGISTRY: dict[tuple[str, ...], TikTokTokens] = {}


def tokens_for(channel: ChannelConfig) -> TikTokTokens:
    """The process's token cache for ``channel``'s credentials (pushes, reads and the gateway share it)."""
    key = (
        channel.id,
        str(getattr(channel, "token_url", "")),
        str(getattr(channel, "app_key", "")),
        secret(getattr(channel, "refresh_token", None)),
        secret(getattr(channel, "access_token", None)),
    )
    tokens = _REGISTRY.get(key)
    if tokens is None:
        tokens = _REGISTRY[key] = TikTokTokens(channel)
    return tokens
