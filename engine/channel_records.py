"""What a channel's sync state is made of: targets, what a channel lists, sends, replies, dead letters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Ids = Mapping[str, Any]
"""A SKU's listing identifiers on one channel (product, variant, inventory item: per adapter)."""


@dataclass(frozen=True)
class Target:
    """Master state to mirror: ``available`` units at master ``version``, last changed by ``source``
    at ``at`` (the event's own time, e.g. when the marketplace took the order).

    ``since``: the version before the changes this target covers, ``(since, version]``, when the
    shard said (None: unknown, e.g. a state re-sent after a reload). ``own``: units this channel's
    marketplace orders took in that range; the marketplace took them off its listing itself.
    """

    available: int
    version: int
    source: str | None = None
    at: float | None = None
    since: int | None = None
    own: int = 0

    def encode(self) -> bytes:
        """JSON form kept in the durable pending set and the dead-letter queue."""
        return orjson.dumps(self)

    @classmethod
    def decode(cls, raw: bytes | str | Mapping[str, Any], channel: str | None = None) -> Target:
        """Inverse of ``encode``; also accepts the change a shard sends (``available``, ``version``,
        ``since``, ``sold`` per channel), of which ``channel``'s own units are kept."""
        data = raw if isinstance(raw, Mapping) else orjson.loads(raw)
        source, at, since = data.get("source"), data.get("at"), data.get("since")
        sold = data.get("sold")
        own = int((sold or {}).get(channel, 0)) if "sold" in data else int(data.get("own", 0))
        return cls(
            int(data["available"]),
            int(data["version"]),
            None if source is None else str(source),
            None if at is None else float(at),
            None if since is None else int(since),
            own,
        )


@dataclass(frozen=True)
class Synced:
    """What the channel is known to list: ``listed`` units for master ``version`` (``available`` then).

    ``at`` is when ``listed`` was last established: our push landed (its answer) or, on a channel
    with compare-and-set, a re-read saw it (None if the channel got there on its own, see ``offer``).

    ``folded`` (0 or less) is what a compare-and-set re-read found the channel had sold that master
    had not heard of yet (``folded_at``: when). Until master hears of it (this channel's own sale
    arrives as a change, or reconciliation's backfill brings it), pushes list
    ``quantity(available + folded)``, so the sale is never overwritten: see ``ChannelSync``.
    """

    version: int
    available: int
    listed: int
    at: float | None = None
    folded: int = 0
    folded_at: float | None = None

    def encode(self) -> bytes:
        """JSON form kept in the channel's listed hash."""
        return orjson.dumps(self)

    @classmethod
    def decode(cls, raw: bytes | str) -> Synced:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True)
class Send:
    """One SKU's part of a request: set ``quantity`` (for ``target``) on the listing ``ids``.

    For a channel with compare-and-set: ``expected`` is what we believe the listing holds now (the
    channel applies the write only if it still does; None: no belief at all), and ``round`` counts
    the stale answers this target already had, so the request after a re-read is a new request
    while a plain retry is the same one (both go into the channel's idempotency key).
    """

    sku: str
    target: Target
    quantity: int
    ids: Ids
    expected: int | None = None
    round: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """A SKU given up on: what was last ``sent``, the newest ``target`` (what a redrive pushes), why."""

    sent: Send
    target: Target
    attempts: int
    error: str


@dataclass(frozen=True)
class Reply:
    """A channel's answer to one request in engine terms (the actor converts the adapter's result).

    SKUs named in neither ``ok`` nor ``failed`` nor ``stale`` are retried. ``throttled`` says the
    channel refused for rate, not for the SKU, so the retry does not count as an attempt.
    ``stale``: SKUs a compare-and-set channel did not write because the listing no longer held what
    the request expected, each with what a re-read found listed (None if the re-read failed).
    ``maybe_applied``: the request may have landed although no answer says so (transport error,
    5xx), so what it set is one of the values the channel may list.
    """

    ok: Iterable[str] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    retry_after_s: float | None = None
    throttled: bool = False
    error: str = ""
    stale: Mapping[str, int | None] = field(default_factory=dict)
    maybe_applied: bool = False
    requeue: Iterable[str] = ()
    """SKUs not written only because another SKU of the same all-or-nothing request was refused:
    sent again at once, as if never sent."""
    unheard: Iterable[str] = ()
    """SKUs answered stale for the first time at their version and not re-read: most likely the
    channel sold them and master has not told us yet, so they wait to hear of it (``ChannelSync``)."""


@dataclass
class Offered:
    """Outcome of ``offer``/``redrive``/``set_catalog``.

    ``persist``: targets to add to the durable pending set (unknown SKUs included, so a later catalog
    that lists them still pushes). ``settled``: SKUs the channel already lists right, to record as
    synced without a request. ``unknown``: SKUs missing from the catalog, reported and not pushed.
    """

    persist: dict[str, Target] = field(default_factory=dict)
    settled: dict[str, Synced] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


@dataclass
class Recorded:
    """Outcome of ``record``: SKUs now synced, SKUs to retry (at clock time), SKUs given up on."""

    acked: dict[str, Synced] = field(default_factory=dict)
    retry_at: dict[str, float] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
