"""Walmart event-subscription authentication: what the seller chose when subscribing.

Walmart's Notifications API (createSubscription: ``authDetails {authMethod, authHeaderName, ...}``;
MARKETPLACES.md, Walmart) sends every event with the credential the subscriber set, in the header
the subscriber named (``authHeaderName``): ``BASIC_AUTH`` (user name and password), ``OAUTH`` (a
bearer token) or ``HMAC`` (HMAC-SHA256 of the whole payload keyed by the client secret). Walmart
does not say how the HMAC digest is written: ``digest_text`` is the one place (base64 or hex, the
``hmac_encoding`` key). None of the three signs a time, so a captured delivery replays: the event
id (idempotency key) answers a replay with the first decision, and nothing stops a replay of an
old capture after the idempotency window (said in the README).

Every comparison is over the raw body's bytes (HMAC) or the header's, constant time, before any
parsing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from adapters.base import SignatureError, constant_time_equal
from engine.config import ChannelConfig

DEFAULT_HEADER = "authorization"
ENCODINGS = ("base64", "hex")


def method(channel: ChannelConfig) -> str:
    return str(getattr(channel, "auth_method", None) or "hmac")


def header_name(channel: ChannelConfig) -> str:
    """The subscription's ``authHeaderName``, lower-cased (the gateway lower-cases headers)."""
    return str(getattr(channel, "auth_header_name", None) or DEFAULT_HEADER).lower()


def digest_text(secret: str, body: bytes, encoding: str) -> str:
    """HMAC-SHA256(secret, body) as the header carries it (unverified: ``hmac_encoding``)."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()


def expected(channel: ChannelConfig, body: bytes) -> str:
    """The header value a genuine delivery of ``body`` carries on ``channel``."""
    secret = channel.webhook_secret.get_secret_value()
    how = method(channel)
    if how == "basic":
        user = str(getattr(channel, "webhook_username", None) or "")
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    if how == "bearer":
        return f"Bearer {secret}"
    return digest_text(secret, body, str(getattr(channel, "hmac_encoding", None) or "base64"))


def verify(channel: ChannelConfig, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``SignatureError`` unless the delivery carries the subscription's credential."""
    if not channel.webhook_secret.get_secret_value():
        raise SignatureError("webhook secret not configured")
    if method(channel) == "basic" and not getattr(channel, "webhook_username", None):
        raise SignatureError("webhook_username not configured")
    sent = headers.get(header_name(channel), "").strip()
    if not sent:
        raise SignatureError("missing signature")
    if not constant_time_equal(expected(channel, body), sent):
        raise SignatureError("bad signature")
