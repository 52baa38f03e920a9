"""Idempotency fingerprints: what makes two deliveries with one key the same event."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_IGNORED = ("key", "at")


def fingerprint(payload: dict[str, Any]) -> str:
    """Digest of what an event asks for, ignoring its key and timestamp.

    Two deliveries with the same key and the same fingerprint are one event; the same key with a
    different fingerprint is a conflict (a sender reusing ids, or tampering).
    """
    body = {k: v for k, v in payload.items() if k not in _IGNORED}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()
