"""Where idempotency records live in Redis: time-bucketed hashes that expire whole.

A key per record cost ~590 bytes a sale (a ~80-byte key name, the key's own overhead and its TTL
entry, ~330 bytes of JSON). Now a record (``engine.idempotency``: ~35 bytes for a sale) is a field
of a hash: field = 9 bytes of a digest of the event key, value = the fingerprint (16 characters) and
the compact parts. Records written in one time bucket (``bucket_span(ttl, IDEM_BUCKETS)`` seconds
of Redis time) share the bucket's hashes, which expire whole at the bucket's end plus the window:
a record lives ``idempotency_ttl`` to ``idempotency_ttl`` plus one bucket. A lookup reads every live
bucket (``IDEM_BUCKETS`` + 1).

Each bucket is cut into ``subs`` hashes by the digest's first 32 bits, so a hash holds about
``PER_HASH`` records: Redis keeps a hash of up to ``hash-max-listpack-entries`` (128 by default)
fields of up to 64 bytes in one compact listpack (~50 bytes a record here) and turns a larger one
into a hash table (~120). ``subs`` is chosen when a bucket gets its first record, from how many
records the bucket before it took (a power of two between ``MIN_SUBS`` and ``MAX_SUBS``), and
kept in the registry hash (``Keys.idem_registry``) with the bucket's expiry; a bucket whose rate
jumps above the last one's gets larger hashes (hash tables) until the next bucket adapts. A record
larger than 64 bytes (an order of many lines) turns its hash into a hash table too.

Buckets are named by the window and their number, so a changed ``idempotency_ttl_hours`` starts
new buckets while the old ones stay registered, and are read, until they expire. An event split
across shards may leave records in two buckets: a read joins them (``engine.idempotency.join``).
"""

from __future__ import annotations

import hashlib
from binascii import b2a_base64
from functools import lru_cache
from typing import Any

from engine.idempotency import join
from engine.store.order_windows import bucket_span

IDEM_BUCKETS = 3
"""Buckets an idempotency window is cut into: a record lives up to a third of the window longer
than asked; a lookup reads four buckets (each read is about 1 us of Redis time per event)."""
PER_HASH, MIN_SUBS, MAX_SUBS = 64, 64, 1 << 20
"""Records a hash should hold (half the default listpack limit: the rate varies), and the bounds of
the hashes per bucket (at least 64 so that a quiet bucket followed by a rush does not make one
hash of millions of fields, whose expiry would block Redis while it frees them)."""


@lru_cache(maxsize=1 << 16)  # a batch's keys are digested for its read, then again for its commit
def key_digest(key: str) -> tuple[int, str]:
    """Where an event key's record goes in a bucket: a 32-bit selector of the hash (modulo the
    bucket's ``subs``) and the field, 9 more digest bytes as 12 base64 characters (text, so the
    scripts' JSON carries it as is; 72 bits within one hash of ~64 records: two keys colliding,
    which would answer the second one ``conflict``, is below 1e-12 likely at 10 million records a
    bucket)."""
    d = hashlib.blake2b(key.encode(), digest_size=13).digest()
    return int.from_bytes(d[:4], "big"), b2a_base64(d[4:], newline=False).decode()


def idem_bucket_s(ttl_s: int) -> int:
    return bucket_span(ttl_s, IDEM_BUCKETS)


def places(registry: dict[Any, Any], ttl_buckets: Any, key: str) -> list[tuple[str, str]]:
    """Every (hash, field) the record of ``key`` may be in, oldest bucket first, given the
    registry's contents (``HGETALL Keys.idem_registry``) and ``ttl_buckets``: the registry's key
    name (the buckets' names start with it). For tests and tools: the scripts do this themselves."""
    selector, field = key_digest(key)
    live = []
    for name, info in registry.items():
        name, info = _text(name), _text(info)
        subs, _, expiry = info.partition(" ")
        if expiry:
            live.append((int(expiry), f"{_text(ttl_buckets)}:{name}:{selector % int(subs):x}"))
    return [(hash_name, field) for _, hash_name in sorted(live)]


def read(r: Any, registry_key: str, key: str) -> str | None:
    """The record of ``key`` as a lookup joins it (sync client; for tests and tools)."""
    found: str | None = None
    for hash_name, field in places(r.hgetall(registry_key), registry_key, key):
        value = r.hget(hash_name, field)
        if value is not None:
            found = join(found, _text(value))
    return found


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)
