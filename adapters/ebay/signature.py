"""``X-EBAY-SIGNATURE``: what it holds, what it signs, and the ECDSA check.

The header is base64 of JSON ``{"alg": "ecdsa", "kid": ..., "signature": <base64 DER>, "digest":
"SHA1"}``; the key for ``kid`` comes from the Notification API's ``getPublicKey`` as ``{"algorithm":
"ECDSA", "digest": "SHA1", "key": "-----BEGIN PUBLIC KEY-----<base64>-----END PUBLIC KEY-----"}``
(PEM without line breaks: the SDK re-inserts them). eBay's SDK verifies with node's
``createVerify('ssl3-sha1')`` (ECDSA over SHA-1) the string ``JSON.stringify(message)`` of the
parsed body, not the raw bytes (eBay/event-notification-nodejs-sdk lib/validator.js, lib/constants.js;
MARKETPLACES.md, eBay). Which bytes eBay signs is therefore unverified: ``signed_messages`` is the
one place that decides it (see its docstring).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.base import SignatureError

HEADER = "x-ebay-signature"
DIGESTS: Mapping[str, type[hashes.HashAlgorithm]] = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256}
"""Digests a header or key may name (eBay sends SHA1; SHA256 accepted should it move on)."""
MAX_HEADER = 4096
_KID = lambda c: c.isascii() and (c.isalnum() or c in "-_.")  # noqa: E731  (it goes into a URL path)
SIGNED_FORMS: tuple[str, ...] = ("raw", "sdk")
"""Which forms of the body a signature may cover (``signed_messages``)."""


@dataclass(frozen=True)
class SignatureHeader:
    alg: str
    kid: str
    signature: bytes
    digest: str


def parse_header(value: str) -> SignatureHeader:
    """The decoded header; ``SignatureError`` naming what is wrong (never its content)."""
    if not value:
        raise SignatureError("missing X-EBAY-SIGNATURE")
    if len(value) > MAX_HEADER:
        raise SignatureError("malformed X-EBAY-SIGNATURE (too long)")
    try:
        fields = orjson.loads(base64.b64decode(value.strip(), validate=True))
        signature = base64.b64decode(str(fields["signature"]), validate=True)
        kid, alg, digest = fields["kid"], fields["alg"], fields.get("digest", "SHA1")
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise SignatureError("malformed X-EBAY-SIGNATURE (base64 JSON with alg, kid, signature)") from None
    if not isinstance(kid, str) or not 0 < len(kid) <= 200 or not all(_KID(c) for c in kid):
        raise SignatureError("malformed X-EBAY-SIGNATURE (kid)")
    if str(alg).lower() != "ecdsa" or str(digest).upper() not in DIGESTS or not signature:
        raise SignatureError("unsupported X-EBAY-SIGNATURE algorithm (expects ecdsa with SHA1)")
    return SignatureHeader(str(alg).lower(), kid, signature, str(digest).upper())


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey
    digest: str


def load_key(answer: Any) -> PublicKey:
    """A ``getPublicKey`` answer as a usable key; ``ValueError`` if it is not an ECDSA key."""
    if not isinstance(answer, dict) or str(answer.get("algorithm", "")).upper() != "ECDSA":
        raise ValueError("getPublicKey answer is not an ECDSA key")
    digest = str(answer.get("digest", "SHA1")).upper()
    pem = str(answer.get("key", ""))
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    if begin not in pem or end not in pem or digest not in DIGESTS:
        raise ValueError("getPublicKey answer lacks a PEM key or a known digest")
    body = pem.split(begin, 1)[1].split(end, 1)[0].replace("\n", "").replace("\r", "").strip()
    key = serialization.load_pem_public_key(f"{begin}\n{body}\n{end}\n".encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("getPublicKey answer is not an EC key")
    return PublicKey(key, digest)


def signed_messages(body: bytes) -> list[bytes]:
    """The byte strings a valid signature may cover, in the order tried.

    ``raw``: the body as received. ``sdk``: what eBay's SDKs verify, ``JSON.stringify(JSON.parse
    (body))``, i.e. compact JSON, keys in their order, non-ASCII unescaped (``orjson.dumps`` writes
    the same for every payload without floats; eBay's notification fields are strings and integers).
    eBay's docs do not say which one it signs and its SDKs take the second; both are accepted by
    default, and each is a faithful form of the same content, so accepting either admits nothing
    eBay did not sign. Narrow ``SIGNED_FORMS`` once a captured delivery settles it.
    """
    out: list[bytes] = []
    if "raw" in SIGNED_FORMS:
        out.append(body)
    if "sdk" in SIGNED_FORMS:
        try:
            again = orjson.dumps(orjson.loads(body))
        except orjson.JSONDecodeError:
            again = b""
        if again and again not in out:
            out.append(again)
    return out


def verify(key: PublicKey, header: SignatureHeader, body: bytes) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``body`` (a form of it) under ``key``."""
    if header.digest != key.digest:
        raise SignatureError("bad signature (digest differs from the key's)")
    algorithm = ec.ECDSA(DIGESTS[header.digest]())
    for message in signed_messages(body):
        try:
            key.key.verify(header.signature, message, algorithm)
            return
        except InvalidSignature:
            continue
    raise SignatureError("bad signature")


def sign(private: ec.EllipticCurvePrivateKey, kid: str, message: bytes, digest: str = "SHA1") -> str:
    """The header value eBay would send with ``message`` (the simulator and tests sign with it)."""
    der = private.sign(message, ec.ECDSA(DIGESTS[digest]()))
    fields = {"alg": "ecdsa", "kid": kid, "signature": base64.b64encode(der).decode(), "digest": digest}
    return base64.b64encode(orjson.dumps(fields)).decode()


def public_key_answer(private: ec.EllipticCurvePrivateKey, digest: str = "SHA1") -> dict[str, str]:
    """``getPublicKey``'s answer for ``private``'s public half, in eBay's one-line PEM form."""
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    one_line = pem.decode().replace("\n", "")
    return {"algorithm": "ECDSA", "digest": digest, "key": one_line}
