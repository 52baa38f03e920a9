"""Where idempotency records live in Redis: time-bucketed hashes that expire whole.

A key per record cost ~590 bytes a sale (a ~80-byte key name, the key's own overhead and its TTL
entry, ~330 bytes of JSON). Now a record (``engine.idempotency``: ~35 bytes for a sale) is a field
of a hash: field = 9 bytes of a digest of the event key, value = the fingerprint (16 characters) and
the compact parts. Records written in one time bucket (``bucket_span(ttl, IDEM_BUCKETS)`` seconds
of Redis time) share the bucket's hashes, which expire whole at the bucket's end plus the window:
a record lives ``idempotency_ttl`` to ``idempotency_ttl`` plus one bucket. A lookup reads every live
bucket (``IDEM_BUCKETS`` + 1).

Each bucket is cut into ``subs`` hashes by the digest's first 32 bits, about ``PER_HASH`` records
each, kept listpack-encoded (~50 bytes a record here, ~120 in a hash table): the registry
(``Keys.idem_registry``) and the arithmetic are ``engine.store.buckets``, which order records
share. A record larger than 64 bytes (an order of many lines) turns its hash into a hash table.

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
from engine.store.buckets import MAX_SUBS as MAX_SUBS
from engine.store.buckets import MIN_SUBS as MIN_SUBS
from engine.store.buckets import PER_HASH as PER_HASH
from engine.store.buckets import bucket_span, hash_name, live, text

IDEM_BUCKETS = 3
"""Buckets an idempotency window is cut into: a record lives up to a third of the window longer
than asked; a lookup reads four buckets (each read is about 1 us of Redis time per event)."""


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
    return [(hash_name(prefix, subs, selector), field) for prefix, subs in live(registry, text(ttl_buckets))]


def read(r: Any, registry_key: str, key: str) -> str | None:
    """The record of ``key`` as a lookup joins it (sync client; for tests and tools)."""
    found: str | None = None
    for hash_name_, field in places(r.hgetall(registry_key), registry_key, key):
        value = r.hget(hash_name_, field)
        if value is not None:
            found = join(found, text(value))
    return found
