"""The generic kind's signature schemes: each algorithm and encoding against an independent HMAC,
the prefix and timestamp, and every refusal (before the body is parsed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from adapters.base import SignatureError
from adapters.generic.inbound import GenericInbound
from adapters.generic.keys import SignatureSpec
from adapters.generic.signature import header_value, signed_bytes, verify
from engine.config import ChannelConfig

SECRET = "s3cret-ü"
BODY = b'{"id": 1, "note": "caf\xc3\xa9 {body}"}'
NOW = 1_800_000_000


def spec(**keys: Any) -> SignatureSpec:
    return SignatureSpec.model_validate({"header": "X-Sig"} | keys)


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [("hmac-sha1", hashlib.sha1), ("hmac-sha256", hashlib.sha256), ("hmac-sha512", hashlib.sha512)],
)
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_every_algorithm_and_encoding_matches_an_independent_hmac(
    algorithm: str, digest: Any, encoding: str
) -> None:
    mac = hmac.new(SECRET.encode(), BODY, digest).digest()
    expected = mac.hex() if encoding == "hex" else base64.b64encode(mac).decode()
    scheme = spec(algorithm=algorithm, encoding=encoding)
    assert header_value(scheme, SECRET, BODY) == expected
    verify(scheme, SECRET, {"x-sig": expected}, BODY, NOW)


def test_prefix_and_signed_timestamp() -> None:
    scheme = spec(signed="v0:{timestamp}:{body}", prefix="v0=", timestamp_header="X-Ts", tolerance_s=60)
    assert signed_bytes(scheme, BODY, str(NOW)) == f"v0:{NOW}:".encode() + BODY  # raw bytes, no re-encoding
    mac = hmac.new(SECRET.encode(), f"v0:{NOW}:".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"x-sig": f"v0={mac}", "x-ts": str(NOW)}
    verify(scheme, SECRET, headers, BODY, NOW + 60)
    with pytest.raises(SignatureError, match="stale"):
        verify(scheme, SECRET, headers, BODY, NOW + 61)
    with pytest.raises(SignatureError, match="stale"):
        verify(scheme, SECRET, headers, BODY, NOW - 61)
    with pytest.raises(SignatureError, match="bad signature"):  # the timestamp is signed: moving it breaks it
        verify(scheme, SECRET, headers | {"x-ts": str(NOW + 1)}, BODY, NOW)
    with pytest.raises(SignatureError, match="malformed"):
        verify(scheme, SECRET, headers | {"x-ts": "soon"}, BODY, NOW)
    with pytest.raises(SignatureError, match="bad signature"):  # the prefix is part of what is compared
        verify(scheme, SECRET, headers | {"x-sig": mac}, BODY, NOW)


@pytest.mark.parametrize(
    ("secret", "headers", "body", "reason"),
    [
        (SECRET, {}, BODY, "missing signature"),
        ("", {"x-sig": "00"}, BODY, "not configured"),
        ("other", {"x-sig": header_value(spec(), SECRET, BODY)}, BODY, "bad signature"),
        (SECRET, {"x-sig": header_value(spec(), SECRET, BODY)}, BODY + b" ", "bad signature"),
        (SECRET, {"x-sig": header_value(spec(), SECRET, BODY).upper()}, BODY, "bad signature"),
    ],
    ids=["missing", "no-secret", "wrong-key", "altered-body", "other-case"],
)
def test_refusals(secret: str, headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(spec(), secret, headers, body, NOW)


def test_the_adapter_checks_before_parsing_and_takes_nothing_unsigned() -> None:
    table = {"id": "g", "kind": "generic", "webhook_secret": SECRET}
    inbound = {"order_id": "$.id", "version": "$.v", "lines": "$.l[*]"}
    channel = ChannelConfig.model_validate(table | {"inbound": inbound, "signature": {"header": "X-Sig"}})
    adapter = GenericInbound(clock=lambda: NOW)
    with pytest.raises(SignatureError):  # not JSON at all, and still a signature refusal (401), not a 400
        adapter.verify(channel, {"x-sig": "nope"}, b"\x00not json")
    adapter.verify(channel, {"x-sig": header_value(spec(), SECRET, b"\x00not json")}, b"\x00not json")
    bare = ChannelConfig.model_validate({"id": "g", "kind": "generic", "webhook_secret": SECRET})
    with pytest.raises(SignatureError, match="no webhooks"):
        adapter.verify(bare, {"x-sig": header_value(spec(), SECRET, BODY)}, BODY)


@pytest.mark.parametrize(("encoding", "text"), [("base64", "AAEC/w=="), ("hex", "000102ff")])
def test_a_binary_key_given_as_text(encoding: str, text: str) -> None:
    key = bytes([0, 1, 2, 255])
    scheme = spec(key_encoding=encoding, encoding="base64")
    expected = base64.b64encode(hmac.new(key, BODY, hashlib.sha256).digest()).decode()
    verify(scheme, text, {"x-sig": expected}, BODY, NOW)
    with pytest.raises(SignatureError, match=f"not {encoding}"):
        verify(scheme, "not a key!", {"x-sig": expected}, BODY, NOW)
