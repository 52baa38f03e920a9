"""How long Redis keeps order records, and the markers that outlive them.

An order's record (``engine.store.order_records``) expires ``retention_s`` after its last change
(refreshed on each version, so an order still moving stays). A late event for an order whose
record is gone must be told apart from a new order: read as new, an edit or replayed order would
take its units a second time, and a cancel would park and never return them. So every write of a
record also marks the order, for that vshard, in the marker buckets: the layout of the records
(``engine.store.buckets``; registry ``Keys.seen_registry``, window ``marker_s`` cut into
``MARKER_BUCKETS``), field = the record's own field (order digest and vshard), value empty. A
record that is missing while a marker is present is read as ``EXPIRED``: the ledger answers
``needs_decision`` and moves nothing (``engine.order_rules.needs_decision``). A marker is per
vshard: an edit that adds a SKU on another vshard of a live order is a new line there, not a
late event.

Why buckets: a hash field has no expiry of its own on Redis 7.0, and a key per marker costs what
the record did. Why small hashes: one hash per vshard and bucket (the layout before, ``Keys.seen``)
held all of a hot vshard's markers in a hash table, ~60 bytes a marker; in listpack-sized hashes a
marker is ~17. Why only two buckets: a new order's lookup reads each live bucket (one ``HMGET`` of
the hash its digest picks), three instead of the nine of the layout before; markers live up to half
a window longer, on average a quarter (~4 bytes a marker).

Upgrade: markers of the layout before (``Keys.seen``, ``LEGACY_MARKER_BUCKETS``) are read until
they have expired (``engine.store.order_records.legacy_until``). Parked cancels (a cancel before
its order) leave no marker and expire with the idempotency window, as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine.order_rules import EXPIRED as EXPIRED  # what fetch.lua answers for such an order
from engine.store.buckets import bucket_span as bucket_span

MARKER_BUCKETS = 2
"""Buckets a marker window is cut into: a marker lives between ``marker_s`` and ``marker_s`` plus
one bucket after its order's last change; a lookup reads ``MARKER_BUCKETS + 1`` buckets."""
ORDER_BUCKETS = 3
"""Buckets an order record window is cut into (``engine.store.order_records``): a record lives up
to a third of its window longer than asked; a lookup reads four buckets of each window in use."""
LEGACY_MARKER_BUCKETS = 8
"""The same for the layout before (``Keys.seen``), read after an upgrade until it has expired."""

DAY_S = 86_400


@dataclass(frozen=True)
class OrderWindows:
    """Order record retention (default and per channel) and the marker window, in seconds."""

    retention_s: int = 90 * DAY_S
    marker_s: int = 400 * DAY_S
    channels: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        longest = max([self.retention_s, *self.channels.values()])
        if min([self.retention_s, *self.channels.values()]) < 1 or self.marker_s < longest:
            raise ValueError("order windows must be >= 1 s and the marker window must cover every one")

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> OrderWindows:
        """From ``engine.config.order_windows`` (plain data: it crosses into Ray actors)."""
        if not raw:
            return cls()
        channels = {str(k): int(v) for k, v in (raw.get("channels") or {}).items()}
        return cls(int(raw["retention_s"]), int(raw["marker_s"]), channels)

    @property
    def bucket_s(self) -> int:
        return bucket_span(self.marker_s, MARKER_BUCKETS)

    @property
    def legacy_bucket_s(self) -> int:
        return bucket_span(self.marker_s, LEGACY_MARKER_BUCKETS)

    def marker_outlived(self, channel: str) -> bool:
        """Whether the channel's records may outlive their markers (``marker_s`` shorter than the
        retention plus one of its buckets): fetch.lua then reads the record buckets of its orders
        even without a marker (``engine.store.order_records``)."""
        r = self.retention(channel)
        return r + bucket_span(r, ORDER_BUCKETS) > self.marker_s

    def retention(self, channel: str) -> int:
        return self.channels.get(channel, self.retention_s)


def marker(channel: str, order_id: str) -> str:
    """The order's marker field in the layout before (``Keys.seen``), as hex (the scripts store the
    8 raw bytes); ``engine.store.order_records.order_digest`` gives it too."""
    return hashlib.blake2b(f"{channel}\x00{order_id}".encode(), digest_size=8).hexdigest()
