"""Idempotency fingerprints: what makes two deliveries with one key the same event."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def fingerprint(payload: dict[str, Any]) -> str:
    """Digest of an event's wire form: two deliveries with one key and one digest are one event.

    The same key with another digest is a conflict (a sender reusing ids, or tampering). The wire
    form comes from the pydantic models (fixed field order) and ``at`` comes from the source
    payload, not the receive time, so a redelivery hashes the same; hashing the dict as it stands
    (no copy, no key sort) keeps this at about half a microsecond.
    """
    return hashlib.blake2b(orjson.dumps(payload), digest_size=12).hexdigest()
