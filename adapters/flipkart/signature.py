"""Flipkart's notification signature: FKLOGIN ``X_Authorization`` with ``X_Date``.

Every notification carries ``X_Date: <HTTP-date>`` and ``X_Authorization: FKLOGIN
base64(<appId>:<fk_signature>)``, where ``fk_signature = SHA-1(date + notification URL + HTTP method
+ app secret)`` (seller.flipkart.com/api-docs NotifIntro, "Notifications Authentication";
MARKETPLACES.md, Flipkart). How the digest is written is not stated: ``encode`` is the one place
that decides (hex by default, base64 by the channel's ``signature_encoding``): unverified.

The signed string holds no body, so a captured notification could be replayed with another body
while its date is fresh: ``X_Date`` must lie within ``date_tolerance_s`` (300 s; Flipkart states no
window, also unverified) of our clock, and the event key (shipment, event type, timestamp) answers a
replay of the same event with the first decision. Checked over the raw header bytes, in constant
time, before the body is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from adapters.base import SignatureError, constant_time_equal

DATE, AUTH = "x_date", "x_authorization"
"""Header names as the gateway lower-cases them (Flipkart sends ``X_Date``, ``X_Authorization``:
a proxy in front must pass headers with underscores, which nginx drops by default)."""
SCHEME = "FKLOGIN "
TOLERANCE_S = 300.0


def encode(digest: bytes, encoding: str = "hex") -> str:
    """The SHA-1 digest as it appears after ``<appId>:`` (unverified: hex or base64)."""
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


def fk_signature(date: str, url: str, method: str, secret: str, encoding: str = "hex") -> str:
    return encode(hashlib.sha1((date + url + method + secret).encode()).digest(), encoding)


def http_date(t: float) -> str:
    """``X_Date`` for unix time ``t`` (HTTP-date, RFC 7231)."""
    return format_datetime(datetime.fromtimestamp(int(t), UTC), usegmt=True)


def sign(
    app_id: str, secret: str, url: str, t: float, method: str = "POST", encoding: str = "hex"
) -> dict[str, str]:
    """The headers Flipkart sends with a notification to ``url`` at unix time ``t``."""
    date = http_date(t)
    token = base64.b64encode(f"{app_id}:{fk_signature(date, url, method, secret, encoding)}".encode())
    return {"X_Date": date, "X_Authorization": SCHEME + token.decode()}


def _parse_date(value: str) -> float:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise SignatureError("X_Date is not an HTTP-date") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def verify(
    *,
    app_id: str,
    secret: str,
    url: str,
    method: str,
    date: str,
    authorization: str,
    now: float,
    encoding: str = "hex",
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Raise ``SignatureError`` unless ``authorization`` signs ``date`` for this app and URL, and
    ``date`` is within the tolerance (checked after the signature: a forgery learns nothing of our clock)."""
    if not secret or not app_id or not url:
        raise SignatureError("app_id, app_secret and endpoint_url must be configured")
    if not authorization or not date:
        raise SignatureError("missing signature")
    if not authorization.startswith(SCHEME) or len(authorization) > 1000:
        raise SignatureError("X_Authorization is not FKLOGIN")
    try:
        decoded = base64.b64decode(authorization[len(SCHEME) :].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SignatureError("X_Authorization is not base64") from None
    sent_app, sep, sent = decoded.rpartition(":")
    if not sep:
        raise SignatureError("X_Authorization lacks <appId>:<signature>")
    expected = fk_signature(date, url, method, secret, encoding)
    # both compared in constant time and both always compared, so timing tells neither apart
    same_app = constant_time_equal(sent_app, app_id)
    if not constant_time_equal(sent, expected) or not same_app:
        raise SignatureError("bad signature")
    at = _parse_date(date)
    if abs(now - at) > tolerance_s:
        raise SignatureError(
            f"stale signature: X_Date is {int(now - at)} s from our clock (limit {int(tolerance_s)})"
        )
