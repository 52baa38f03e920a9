"""Notification public keys by ``kid``: fetched from ``getPublicKey`` and cached, as eBay's SDK does.

``GET {base_url}/commerce/notification/v1/public_key/{kid}`` with an application token
(eBay/event-notification-nodejs-sdk lib/client.js: an LRU of 100 keys, fetched on a miss; the
Notification API's quota is 10,000 calls a day, MARKETPLACES.md, so a fetch per delivery is out).

Verification runs synchronously (on a gateway worker thread: ``EbayInbound.calls_out``, so other
deliveries never wait on it), and how a miss is handled decides how long an eBay delivery can take.
The choice here: **fetch on a miss, bounded, then cache**.
- A known kid never waits: its key is used while a background thread re-fetches it once it is older
  than ``TTL_S`` (stale-while-revalidate; eBay rotates keys rarely, and the SDK never expires one).
- An unknown kid is fetched in the request, with ``MISS_TIMEOUT_S`` on each of the (at most two)
  calls: the application token, when none is cached, and the key. This happens once per key per
  process: a new kid is what eBay sends after a rotation, and every later delivery finds it cached.
- Forged kids cannot make every delivery wait: a kid eBay does not know is remembered for
  ``NEGATIVE_TTL_S`` and refused at once, and at most one blocking fetch starts per
  ``MISS_SPACING_S``; other misses inside that window are refused (401) without a fetch.
Why not 503 + Retry-After while a background fetch runs: it needs a status the adapter contract
cannot express (``verify`` raises only ``SignatureError``, 401), and eBay's retry schedule is not
published, so a first delivery after a rotation would wait an unknown time; one bounded fetch is
cheaper. A refused delivery is redelivered by eBay, and reconciliation's ``getOrders`` backfill
finds its order regardless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from adapters import blocking_http
from adapters.base import SignatureError
from adapters.ebay import oauth
from adapters.ebay.signature import PublicKey, load_key
from engine.config import ChannelConfig

log = logging.getLogger(__name__)

PATH = "/commerce/notification/v1/public_key/"
TTL_S = 3600.0
MISS_TIMEOUT_S = 2.0
NEGATIVE_TTL_S = 60.0
MISS_SPACING_S = 1.0
MAX_KEYS = 100


@dataclass
class PublicKeys:
    """One eBay environment's keys (``base_url``), fetched with ``tokens`` (an application token)."""

    base_url: str
    tokens: oauth.EbayTokens
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    keys: dict[str, tuple[PublicKey, float]] = field(default_factory=dict)
    unknown: dict[str, float] = field(default_factory=dict)
    fetches: int = 0
    _last_miss: float = -1e18
    _refreshing: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, kid: str) -> PublicKey:
        """The key for ``kid``, or ``SignatureError`` (unknown to eBay, or not fetchable now)."""
        now = self.clock()
        with self._lock:
            cached = self.keys.get(kid)
            if cached is not None:
                if now - cached[1] > TTL_S and kid not in self._refreshing:
                    self._refreshing.add(kid)
                    threading.Thread(target=self._refresh, args=(kid,), daemon=True).start()
                return cached[0]
            if now < self.unknown.get(kid, -1e18):
                raise SignatureError("unknown signing key (kid)")
            if now - self._last_miss < MISS_SPACING_S:
                raise SignatureError("signing key not fetched yet (kid): try again")
            self._last_miss = now
        return self._fetch(kid)

    def _refresh(self, kid: str) -> None:
        try:
            self._fetch(kid)
        except SignatureError as exc:
            log.warning("ebay: public key refresh failed: %s", exc)  # the cached key stays in use
        finally:
            with self._lock:
                self._refreshing.discard(kid)

    def _fetch(self, kid: str) -> PublicKey:
        for attempt in range(2):
            try:
                token = self.tokens.ensure_sync(MISS_TIMEOUT_S)
                with blocking_http.client(MISS_TIMEOUT_S) as client:
                    response = client.get(
                        f"{self.base_url.rstrip('/')}{PATH}{kid}",
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    )
            except (oauth.TokenError, httpx.HTTPError) as exc:
                raise SignatureError(f"signing key not fetched ({type(exc).__name__}): try again") from None
            self.fetches += 1
            if response.status_code == 401 and attempt == 0:
                self.tokens.forget(token)  # expired or revoked application token: one more try
                continue
            if response.status_code == 404:
                with self._lock:
                    self.unknown[kid] = self.clock() + NEGATIVE_TTL_S
                raise SignatureError("unknown signing key (kid)")
            if response.status_code != 200:
                raise SignatureError(f"signing key not fetched (HTTP {response.status_code}): try again")
            try:
                key = load_key(response.json())
            except ValueError as exc:
                raise SignatureError(f"signing key unusable: {exc}") from None
            with self._lock:
                if len(self.keys) >= MAX_KEYS and kid not in self.keys:
                    self.keys.pop(min(self.keys, key=lambda k: self.keys[k][1]))
                self.keys[kid] = (key, self.clock())
            return key
        raise SignatureError("signing key not fetched (token refused): try again")


_REGISTRY: dict[tuple[str, str], PublicKeys] = {}


def keys_for(channel: ChannelConfig) -> PublicKeys:
    """The process's key cache for ``channel``'s eBay environment and app keyset."""
    key = (channel.base_url, oauth.secret(getattr(channel, "client_id", None)))
    cache = _REGISTRY.get(key)
    if cache is None:
        cache = _REGISTRY[key] = PublicKeys(channel.base_url, oauth.tokens_for(channel, user=False))
    return cache
