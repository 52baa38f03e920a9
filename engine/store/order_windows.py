"""How long Redis keeps order records, and the markers that outlive them.

An order's record (``Keys.order``) expires ``retention_s`` after its last change (refreshed on each
version, so an order still moving stays). A late event for an order whose record is gone must be
told apart from a new order: read as new, an edit or replayed order would take its units a second
time, and a cancel would park and never return them. So every write of a record also marks the
order in a time-bucketed hash (``Keys.seen``: field = 8-byte digest of channel and order id, value
empty), and a bucket expires whole ``marker_s`` after its time span ends. A record that is missing
while a marker is present is read as ``EXPIRED``: the ledger answers ``needs_decision`` and moves
nothing (``engine.order_rules.needs_decision``).

Why buckets: a hash field has no expiry of its own on Redis 7.0, and a key per marker costs what
the record did. A marker costs about 60 bytes in a large bucket, against ~300 for the record.
Lookups read every live bucket of the vshard (``MARKER_BUCKETS`` + 1 ``HMGET`` per vshard and batch).
Parked cancels (a cancel before its order) leave no marker and expire with the idempotency window,
as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine.order_rules import EXPIRED as EXPIRED  # what fetch.lua answers for such an order

MARKER_BUCKETS = 8
"""Buckets a marker window is cut into: a marker lives between ``marker_s`` and ``marker_s`` plus
one bucket after its order's last change; a lookup reads ``MARKER_BUCKETS + 1`` buckets."""

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

    def retention(self, channel: str) -> int:
        return self.channels.get(channel, self.retention_s)


def bucket_span(window_s: int, buckets: int) -> int:
    """Seconds of one time bucket when ``window_s`` is cut into ``buckets``: a bucket ``b`` holds
    what was written in ``[b * span, (b + 1) * span)`` (Redis time) and expires whole at its end
    plus ``window_s``, so an entry lives ``window_s`` to ``window_s + span``, and the live buckets
    are the current one and the ``buckets`` before it (``engine.store.idem_layout`` too)."""
    return max(1, -(-window_s // buckets))


def marker(channel: str, order_id: str) -> str:
    """The order's marker field, as hex (the scripts store the 8 raw bytes)."""
    return hashlib.blake2b(f"{channel}\x00{order_id}".encode(), digest_size=8).hexdigest()
