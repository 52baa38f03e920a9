"""Idempotency: payload fingerprints and the bounded in-memory cache of first decisions."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import orjson

_IGNORED = ("key", "at")
V = TypeVar("V")


def fingerprint(payload: dict[str, Any]) -> str:
    """Digest of what an event asks for, ignoring its key and timestamp.

    Two deliveries with the same key and the same fingerprint are one event; the same key with a
    different fingerprint is a conflict (a sender reusing ids, or tampering).
    """
    body = {k: v for k, v in payload.items() if k not in _IGNORED}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


class BoundedCache(Generic[V]):
    """A dict that forgets its oldest insertions beyond ``capacity``.

    Only a cache: whatever it forgets is read back from the store before a decision needs it.
    Eviction runs in ``trim`` (called after a commit) so entries fetched for a batch stay put
    while that batch is being decided.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: dict[Hashable, V] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __getitem__(self, key: Hashable) -> V:
        return self._data[key]

    def __setitem__(self, key: Hashable, value: V) -> None:
        self._data.pop(key, None)
        self._data[key] = value

    def __len__(self) -> int:
        return len(self._data)

    def trim(self) -> None:
        excess = len(self._data) - self.capacity
        if excess > 0:
            for key in list(self._data)[:excess]:
                del self._data[key]
