"""TikTok Shop's two HMAC-SHA256 signatures: webhooks it sends, and Open API requests we send.

Webhooks (MARKETPLACES.md, TikTok Shop; EcomPHP/tiktokshop-php src/Webhook.php ``verify``): header
``Authorization`` = lowercase hex HMAC-SHA256(key = app_secret, message = app_key + raw body), with
no ``Bearer`` and no timestamp (so no replay protection beyond the event key). Checked over the raw
bytes in constant time, before anything parses the body.

Requests (EcomPHP/tiktokshop-php src/Client.php ``prepareSignature``, citing
partner.tiktokshop.com/doc/page/274638): every query parameter except ``sign`` and
``access_token``, sorted by name, concatenated as ``{key}{value}``; the request path in front; the
raw body appended unless the request is a GET or multipart; the whole wrapped in app_secret on both
sides; hex HMAC-SHA256 keyed with app_secret. The result goes in the ``sign`` query parameter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from adapters.base import SignatureError, constant_time_equal

HEADER = "authorization"
UNSIGNED = frozenset({"sign", "access_token"})


def webhook_signature(app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify_webhook(app_key: str, app_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """``SignatureError`` unless ``Authorization`` is the body's signature (hex, any case)."""
    if not app_key or not app_secret:
        raise SignatureError("set app_key and app_secret to verify TikTok Shop webhooks")
    sent = headers.get(HEADER, "").strip()
    if not sent:
        raise SignatureError("missing Authorization header")
    if len(sent) != 64:
        raise SignatureError("Authorization is not a hex HMAC-SHA256")
    if not constant_time_equal(sent.lower(), webhook_signature(app_key, app_secret, body)):
        raise SignatureError("signature does not match")


def request_sign(app_secret: str, path: str, params: Mapping[str, Any], body: bytes = b"") -> str:
    """The ``sign`` of a request to ``path`` with these query ``params`` and raw ``body`` (b"" for GET)."""
    pairs = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in UNSIGNED)
    message = app_secret.encode() + path.encode() + pairs.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()
