"""Time-bucketed hashes that expire whole: the layout idempotency and order records share.

A record is a field of a hash. Records written in one time bucket (``bucket_span(window, N)``
seconds of Redis time) share the bucket's hashes, which expire whole at the bucket's end plus the
window: a record lives ``window`` to ``window`` plus one bucket, and a lookup reads every live
bucket (``N`` + 1 per window). Each bucket is cut into ``subs`` hashes by a 32-bit selector of
the record's digest, so a hash holds about ``PER_HASH`` records: Redis keeps a hash of up to
``hash-max-listpack-entries`` (128 by default) fields of up to 64 bytes in one compact listpack
and turns a larger one into a hash table (about twice the bytes a record). ``subs`` is chosen when
a bucket gets its first record, from how many records the bucket before it took (a power of two
between ``MIN_SUBS`` and ``MAX_SUBS``).

The registry (one hash per kind of record, e.g. ``Keys.idem_registry``) has, per bucket, field
``<window>:<bucket>`` = ``"<subs> <expiry>"`` and ``<window>:<bucket>:n`` = records written; the
bucket's hashes are ``<registry>:<window>:<bucket>:<sub in hex>``. Buckets are named by their
window, so records of several windows (a changed setting, a channel's own retention) live side by
side, each bucket read until it expires. The scripts (commit.lua ``bucket``/``put``, fetch.lua
``lookup``) implement the writes and the batch reads; this module is the same arithmetic for
Python readers (``engine.store.order_records``, ``engine.store.idem_layout``) and tests.
"""

from __future__ import annotations

from typing import Any

PER_HASH, MIN_SUBS, MAX_SUBS = 64, 64, 1 << 20
"""Records a hash should hold (half the default listpack limit: the rate varies), and the bounds of
the hashes per bucket (at least 64 so that a quiet bucket followed by a rush does not make one
hash of millions of fields, whose expiry would block Redis while it frees them). commit.lua has
the same numbers."""


def bucket_span(window_s: int, buckets: int) -> int:
    """Seconds of one time bucket when ``window_s`` is cut into ``buckets``: a bucket ``b`` holds
    what was written in ``[b * span, (b + 1) * span)`` (Redis time) and expires whole at its end
    plus ``window_s``, so an entry lives ``window_s`` to ``window_s + span``, and the live buckets
    are the current one and the ``buckets`` before it."""
    return max(1, -(-window_s // buckets))


def live(registry: dict[Any, Any], registry_key: str) -> list[tuple[str, int]]:
    """Every registered bucket as (hash name prefix, subs), oldest expiry first, from the
    registry's contents (``HGETALL``). Buckets that have expired may still be listed (the
    scripts forget them when a new bucket starts): their hashes are gone, a read finds nothing."""
    out = []
    for name, info in registry.items():
        subs, _, expiry = text(info).partition(" ")
        if expiry and subs.isdigit() and expiry.isdigit():
            out.append((int(expiry), f"{registry_key}:{text(name)}:", int(subs)))
    return [(prefix, subs) for _, prefix, subs in sorted(out)]


def hash_name(prefix: str, subs: int, selector: int) -> str:
    return f"{prefix}{selector % subs:x}"


def text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)
