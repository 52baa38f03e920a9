"""A generic channel's webhook signature: HMAC over a configured string, checked before any parsing.

The signed bytes are ``signature.signed`` with ``{body}`` replaced by the raw body (never a
re-serialisation) and ``{timestamp}`` by the timestamp header's value exactly as sent; the key is the
channel's ``webhook_secret`` (its UTF-8 bytes, or decoded from base64 or hex: ``key_encoding``).
The header carries ``prefix`` then the digest, hex (lower case, as ``hexdigest`` gives it) or
base64 (standard alphabet, padded). The comparison is ``hmac.compare_digest`` over the whole
expected header value. With a timestamp, it must be unix
seconds within ``tolerance_s`` of our clock, checked after the signature (a forged header learns
nothing of our clock), as the relay convention does (MARKETPLACES.md, "Relayed and generic channels").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from adapters.base import SignatureError, constant_time_equal
from adapters.generic.keys import SignatureSpec

DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha512": hashlib.sha512}


def signed_bytes(spec: SignatureSpec, body: bytes, timestamp: str) -> bytes:
    """The bytes the HMAC covers: the template's literal text, the raw body, the timestamp as sent."""
    out = b""
    rest = spec.signed
    while rest:
        head, brace, tail = rest.partition("{")
        out += head.encode()
        if not brace:
            break
        name, _, rest = tail.partition("}")
        out += body if name == "body" else timestamp.encode()
    return out


def key_bytes(spec: SignatureSpec, secret: str) -> bytes:
    """The HMAC key ``webhook_secret`` stands for (``key_encoding``); ``ValueError`` if it does not decode."""
    if spec.key_encoding == "base64":
        return base64.b64decode(secret.encode(), validate=True)
    if spec.key_encoding == "hex":
        return bytes.fromhex(secret)
    return secret.encode()


def header_value(spec: SignatureSpec, secret: str, body: bytes, timestamp: str = "") -> str:
    """What the sender puts in ``spec.header`` for ``body`` (and ``timestamp``, when signed)."""
    key = key_bytes(spec, secret)
    mac = hmac.new(key, signed_bytes(spec, body, timestamp), DIGESTS[spec.algorithm]).digest()
    encoded = mac.hex() if spec.encoding == "hex" else base64.b64encode(mac).decode()
    return spec.prefix + encoded


def verify(spec: SignatureSpec, secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raise ``SignatureError`` unless the headers sign ``body`` (headers are lower-cased by the caller)."""
    if not secret:
        raise SignatureError("webhook secret not configured")
    try:
        key_bytes(spec, secret)
    except ValueError:
        raise SignatureError(f"webhook secret is not {spec.key_encoding}") from None
    sent = headers.get(spec.header.lower(), "").strip()
    if not sent:
        raise SignatureError("missing signature")
    timestamp = ""
    if spec.timestamp_header is not None:
        timestamp = headers.get(spec.timestamp_header.lower(), "").strip()
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise SignatureError(f"missing or malformed {spec.timestamp_header} (unix seconds)")
    if not constant_time_equal(header_value(spec, secret, body, timestamp), sent):
        raise SignatureError("bad signature")
    if timestamp and abs(now - int(timestamp)) > spec.tolerance_s:
        raise SignatureError(
            f"stale signature: the timestamp is {int(now - int(timestamp))} s from our clock "
            f"(limit {int(spec.tolerance_s)})"
        )
