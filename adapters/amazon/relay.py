"""The relay convention: how a seller's relay signs what it forwards to us (MARKETPLACES.md,
"Relayed and generic channels").

AWS hands Amazon's notifications to the seller's SQS queue or EventBridge bus with IAM auth and no
signature we could check, so the seller's relay signs each body it forwards:
``Skusync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook_secret, "<t>." + raw body)>``.
This is Stripe's scheme: the timestamp is inside the signed string, so a captured delivery replayed
more than ``TOLERANCE_S`` later is refused even though its signature is genuine, and within the
window the idempotency key (``NotificationId``) answers a replay with the first decision.
"""

from __future__ import annotations

import hashlib
import hmac

from adapters.base import SignatureError, constant_time_equal

HEADER = "skusync-signature"
TOLERANCE_S = 300.0
"""How far ``t`` may be from our clock, either way (the convention's 300 s)."""


def digest(secret: str, t: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<t>." + body`` under ``secret``."""
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """The header value a relay sends with ``body`` at unix time ``t``."""
    return f"t={t},v1={digest(secret, t, body)}"


def _fields(value: str) -> tuple[int, list[str]]:
    """``t`` and every ``v1`` of a header value (several ``v1`` allowed while a secret rotates)."""
    t: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        name, _, item = part.strip().partition("=")
        if name == "t" and item.isascii() and item.isdigit() and len(item) <= 12:
            t = int(item)
        elif name == "v1" and item:
            v1.append(item)
    if t is None or not v1:
        raise SignatureError("malformed signature header (needs t=<unix seconds>,v1=<hex>)")
    return t, v1


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = TOLERANCE_S) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``body`` with ``secret`` within the tolerance.

    The freshness check comes after the signature check, so a forged header learns nothing about
    our clock; both run over the raw bytes, before anything parses the body.
    """
    if not secret:
        raise SignatureError("webhook secret not configured")
    if not header:
        raise SignatureError("missing signature")
    t, candidates = _fields(header)
    expected = digest(secret, t, body)
    if not any(constant_time_equal(expected, c) for c in candidates):
        raise SignatureError("bad signature")
    if abs(now - t) > tolerance_s:
        raise SignatureError(
            f"stale signature: t is {int(now - t)} s from our clock (limit {int(tolerance_s)})"
        )
