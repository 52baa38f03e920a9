"""Webhook signatures: Standard Webhooks, as a third-party spec says Etsy signs (Etsy's page does not).

``webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>")>``
(several space-separated while a secret rotates), ``key`` = base64-decoded secret after ``whsec_``
(standardwebhooks.com spec; MARKETPLACES.md, Etsy). Checked over the raw bytes, constant time,
before anything parses the body; then ``webhook-timestamp`` must be within the tolerance (300 s,
the spec's), so a captured delivery replayed later is refused though its signature is genuine.
Unverified, so keys: ``signature_scheme`` (one scheme so far), ``signature_secret_encoding``
(``base64`` per spec, or the secret's raw text), ``signature_tolerance_s``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from adapters.base import SignatureError, constant_time_equal

ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
TOLERANCE_S = 300.0


def key_bytes(secret: str, encoding: str = "base64") -> bytes:
    """The HMAC key: ``whsec_`` dropped, then base64-decoded (or the text itself for ``utf8``)."""
    text = secret.removeprefix("whsec_")
    if encoding == "utf8":
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("webhook secret is not base64 (set signature_secret_encoding)") from None


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` value for one delivery."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(
    key: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float = TOLERANCE_S
) -> None:
    """Raise ``SignatureError`` unless the headers sign ``body`` with ``key`` within the tolerance."""
    if not key:
        raise SignatureError("webhook secret not configured")
    msg_id, stamp, sent = (headers.get(h, "").strip() for h in (ID, TIMESTAMP, SIGNATURE))
    if not sent:
        raise SignatureError("missing signature")
    if not msg_id or len(msg_id) > 200 or not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError("malformed webhook-id or webhook-timestamp")
    expected = sign(key, msg_id, int(stamp), body)
    candidates = [c for c in sent.split(" ") if c.startswith("v1,")]
    if not any(constant_time_equal(expected, c) for c in candidates):
        raise SignatureError("bad signature")
    if abs(now - int(stamp)) > tolerance_s:
        off = int(now - int(stamp))
        limit = int(tolerance_s)
        raise SignatureError(f"stale signature: timestamp is {off} s from our clock (limit {limit})")
