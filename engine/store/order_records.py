"""Where order records live in Redis: fields of time-bucketed hashes that expire whole.

A key per record (``Keys.order``, ``SET EX`` the retention window) cost ~276 bytes of Redis for a
single-line sale: the key name, the key's own overhead and its expiry entry, ~150 bytes of JSON.
Now a record (``engine.order_codec``: ~45-60 bytes for a single-line sale) is one field of a hash
in the layout idempotency records use (``engine.store.buckets``; registry ``Keys.order_registry``):

- window = the channel's retention (``OrderWindows.retention``), cut into ``ORDER_BUCKETS``
  buckets: a record lives its window to 1 1/3 of it from its last write, and each version is
  written to the current bucket, so the window starts again at the order's last change. A record
  of parked cancels only (whose order may never come) lives the parking window, in one bucket of
  its own, named ``p<window>``, which starts with one hash rather than 64 (such records are few:
  up to twice the window costs little, and a batch's lookups read these buckets with one
  ``HMGET`` per hash, not one per order);
- the hash is chosen by a 32-bit selector of a digest of (channel, order id), the field is that
  digest (8 bytes, 11 base64 characters) and the vshard (2 characters): every vshard's share of an
  order lies in the same hash of a bucket, so all of them are read with one ``HMGET`` per live
  bucket (the admin API's cancel reads every vshard's share: 1,024 ``GET``s before).

One copy: a version that replaces a record deletes the copy it replaces (``HDEL`` from every other
live bucket, in the commit that writes it). The ledger tells which writes replace a record
(``VShardWrites.fresh`` lists the ones that do not: a new sale, the hot path, costs no ``HDEL``).
So a read never has to tell two copies apart, which the buckets' times alone could not do across
windows (a parked cancel's short window against its order's long one); reads still take the
newest bucket's copy. The ``HDEL``s cost an edit, cancel or refund about 1 us of Redis time per live
bucket; without them an edit would leave its old copy until its bucket expired (a third more memory
for an order edited once, and an ambiguity for readers).

Lookups read the order's marker first (``engine.store.order_windows``): every record but a
parked cancel's is written with its marker, which outlives it, so an order without a marker has
at most a parked cancel's record, and a new sale (the hot path) reads the marker buckets and the
parked cancels' buckets only (5 ``HMGET``s at a steady rate, where each order's digest picks a
hash of its own), not every record bucket. A channel whose retention plus a bucket is longer than
the marker window (``OrderWindows.marker_outlived``) has its records read whatever the marker says.

Upgrade: records of the layout before (a key per record, JSON) are still read, by fetch.lua and
``read_order_records``, when not found in the buckets, until the longest window has passed since
the first start with buckets (``legacy_until``): they expire on their own. Lookups go through
fetch.lua (the ledger) and ``read_order_records`` (the gateway's views, reconciliation).
"""

from __future__ import annotations

import hashlib
import time
from binascii import b2a_base64
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from engine.order_codec import decode
from engine.store.buckets import hash_name, live, text
from engine.store.keys import Keys
from engine.store.order_windows import ORDER_BUCKETS as ORDER_BUCKETS

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@lru_cache(maxsize=1 << 16)  # a batch's orders are digested for its read, then for its commit
def order_digest(channel: str, order_id: str) -> tuple[int, str, str]:
    """(selector of the hash, the field's order part, the marker in hex): one digest serves the
    record and the marker (``engine.store.order_windows.marker``, which it equals)."""
    d = hashlib.blake2b(f"{channel}\x00{order_id}".encode(), digest_size=8).digest()
    return int.from_bytes(d[:4], "big"), b2a_base64(d, newline=False).decode()[:11], d.hex()


def field(order_part: str, vshard: int) -> str:
    """The field of a vshard's share of an order (two base64 digits of the vshard, more past 4,095)."""
    digits = _B64[vshard & 63]
    vshard >>= 6
    while vshard or len(digits) < 2:
        digits = _B64[vshard & 63] + digits
        vshard >>= 6
    return order_part + digits


async def legacy_until(r: Any, registry: str, pattern: str, kind: str, longest_s: int) -> float:
    """Until when lookups must also read records of a layout before (keys matching ``pattern``,
    of type ``kind``): ``longest_s`` (the longest window they were written with) after the first
    start with buckets, if any such key was there then; 0 if none. Decided once per deployment
    (the first claim scans the keyspace for one) and kept in ``registry`` (field ``legacy``): an
    edit or cancel of an order placed before the upgrade must still find its record or marker."""
    until = await r.hget(registry, "legacy")
    if until is None:
        found = False
        async for _ in r.scan_iter(match=pattern, count=10_000, _type=kind):
            found = True
            break
        now = int((await r.time())[0])
        await r.hsetnx(registry, "legacy", now + longest_s + 3600 if found else 0)
        until = await r.hget(registry, "legacy")
    return float(until or 0)


async def read_order_records(
    r: Any, keys: Keys, wanted: Sequence[tuple[int, str, str]]
) -> list[dict[str, Any] | None]:
    """The records of (vshard, channel, order id)s, decoded, None where there is none: one
    pipelined round trip after the registry's (an ``HMGET`` per live bucket and hash the orders
    fall in, and the older layout's keys while they may live). For readers outside the ledger."""
    if not wanted:
        return []
    reg = keys.order_registry()
    registry = await r.hgetall(reg)
    groups: dict[str, tuple[list[int], list[str]]] = {}
    for prefix, subs in live(registry, reg):  # oldest first: a newer copy overwrites an older one
        for i, (vs, channel, order_id) in enumerate(wanted):
            selector, part, _ = order_digest(channel, order_id)
            at, fields = groups.setdefault(hash_name(prefix, subs, selector), ([], []))
            at.append(i)
            fields.append(field(part, vs))
    legacy = float(text(registry.get(b"legacy", registry.get("legacy", b"0")))) > time.time()
    pipe = r.pipeline(transaction=False)
    for name, (_, fields) in groups.items():
        pipe.hmget(name, fields)
    if legacy:
        for vs, channel, order_id in wanted:
            pipe.get(keys.order(vs, channel, order_id))
    replies = await pipe.execute()
    found: list[Any] = [None] * len(wanted)
    for (at, _), values in zip(groups.values(), replies, strict=False):
        for i, value in zip(at, values, strict=True):
            if value is not None:
                found[i] = value
    if legacy:
        for i, value in enumerate(replies[len(groups) :]):
            if found[i] is None:
                found[i] = value
    return [None if raw is None else decode(raw) for raw in found]


def places(
    registry: dict[Any, Any], registry_key: str, vshard: int, channel: str, order_id: str
) -> list[tuple[str, str]]:
    """Every (hash, field) a vshard's record of an order may be in, oldest bucket first, given the
    registry's contents (``HGETALL Keys.order_registry``). For tests and tools."""
    selector, part, _ = order_digest(channel, order_id)
    return [(hash_name(p, subs, selector), field(part, vshard)) for p, subs in live(registry, registry_key)]


def held(r: Any, keys: Keys, vshard: int, channel: str, order_id: str, marker: bool = False) -> list[str]:
    """The hashes holding that record, or with ``marker`` its marker (``engine.store.order_windows``)
    (sync client; for tests and tools: one, or none)."""
    reg = keys.seen_registry() if marker else keys.order_registry()
    return [h for h, f in places(r.hgetall(reg), reg, vshard, channel, order_id) if r.hexists(h, f)]
