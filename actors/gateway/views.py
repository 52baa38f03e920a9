"""Read-side views for the admin API, built from what the shards commit: audit streams and order records."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from actors.gateway.invalid_lines import invalid_stream
from actors.gateway.streams import entry_ms, newest_first
from engine.routing import ShardMap
from engine.store import Keys
from engine.store.order_records import read_order_records

MAX_SCAN = 200_000
"""Audit entries one listing may read before it answers with what it found (bounds its cost)."""
SIBLING_WINDOW_MS = 2_000
"""How much older than the last listed order the orders scan keeps reading. An order's lines on
other vshards are written in other streams within milliseconds of each other; reading on past the
window collects them, so each listed order names all its vshards."""
STATUSES = ("accepted", "oversold", "partially_cancelled", "cancelled", "reserved")
"""``reserved``: a ``POST /v1/orders`` order holding units while its coordinator decides."""


@dataclass
class _Candidate:
    channel: str
    order_id: str
    newest: float
    vshards: set[int] = field(default_factory=set)


class StoreViews:
    """Audit entries and orders, newest first, read straight from Redis (no shard is involved)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, shard_map: ShardMap) -> None:
        self.redis = redis
        self.keys = keys
        self.shard_map = shard_map

    def _streams(self, sku: str | None) -> list[str]:
        if sku is not None:
            return [self.keys.audit(self.shard_map.vshard(sku))]
        return [self.keys.audit(vs) for vs in range(self.shard_map.vshards)]

    async def audit(self, sku: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` audit entries, of one SKU (its vshard's stream only) or of all,
        with the marketplace lines refused at the edge (``actors.gateway.invalid_lines``)."""
        out: list[dict[str, Any]] = []
        streams = [*self._streams(sku), invalid_stream(self.keys)]
        async with aclosing(newest_first(self.redis, streams)) as entries:
            scanned = 0
            async for entry_id, d in entries:
                scanned += 1
                if sku is None or d.get("sku") == sku:
                    out.append(audit_entry(entry_id, d))
                if len(out) >= limit or scanned >= MAX_SCAN:
                    break
        return out

    async def orders(self, channel: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        """Orders of every channel (or one), newest activity first, optionally of one status.

        Built from the audit streams' entries that carry an order id, grouped by (channel, order
        id); status and lines come from the order records of the vshards those entries name.
        """
        out: list[dict[str, Any]] = []
        done: set[tuple[str, str]] = set()
        batch: dict[tuple[str, str], _Candidate] = {}
        cutoff: int | None = None
        async with aclosing(newest_first(self.redis, self._streams(None))) as entries:
            scanned = 0
            async for entry_id, d in entries:
                scanned += 1
                ident = _order_ident(d, channel)
                if scanned > MAX_SCAN:
                    break
                if ident is None or ident in done:
                    continue
                ms = entry_ms(entry_id)
                if cutoff is not None and ms < cutoff:  # past the window: this batch is complete
                    out += await self._resolve(batch, status)
                    done.update(batch)
                    batch, cutoff = {}, None
                    if len(out) >= limit:
                        break
                cand = batch.setdefault(ident, _Candidate(ident[0], ident[1], d.get("at") or 0.0))
                cand.vshards.add(self.shard_map.vshard(d["sku"]))
                if cutoff is None and len(batch) >= limit - len(out):
                    cutoff = ms - SIBLING_WINDOW_MS
        if batch:
            out += await self._resolve(batch, status)
        return out[:limit]

    async def _resolve(
        self, batch: dict[tuple[str, str], _Candidate], status: str | None
    ) -> list[dict[str, Any]]:
        """Read the order records of a batch of candidates (one round trip) and build their views."""
        cands = list(batch.values())
        wanted = [(vs, c.channel, c.order_id) for c in cands for vs in sorted(c.vshards)]
        found = iter(await read_order_records(self.redis, self.keys, wanted))
        out = []
        for c in cands:
            records = [r for r in (next(found) for _ in c.vshards) if r is not None]
            view = order_view(c.channel, c.order_id, records, c.newest)
            if view is not None and (status is None or view["status"] == status):
                out.append(view)
        return out

    async def order_records(self, channel: str, order_id: str) -> list[dict[str, Any]]:
        """Every vshard's record of one order.

        A cancel by order id does not know the vshards of the SKUs the order holds; every vshard's
        share lies in the same hash of a bucket, so asking for all of them is one ``HMGET`` per
        live bucket (``engine.store.order_records``).
        """
        wanted = [(vs, channel, order_id) for vs in range(self.shard_map.vshards)]
        return [r for r in await read_order_records(self.redis, self.keys, wanted) if r is not None]


def _order_ident(d: dict[str, Any], channel: str | None) -> tuple[str, str] | None:
    order_id, ch = d.get("order_id"), d.get("channel")
    if not isinstance(order_id, str) or not isinstance(ch, str) or not isinstance(d.get("sku"), str):
        return None
    if channel is not None and ch != channel:
        return None
    return ch, order_id


def audit_entry(entry_id: str, d: dict[str, Any]) -> dict[str, Any]:
    """One audit entry as the admin API shows it (``event_id`` is the event's idempotency key;
    ``reason`` only on lines refused at the edge)."""
    entry = {
        "id": entry_id,
        "event_id": d.get("key"),
        "kind": d.get("kind"),
        "channel": d.get("channel"),
        "order_id": d.get("order_id"),
        "sku": d.get("sku"),
        "delta": d.get("delta"),
        "before": d.get("before"),
        "after": d.get("after"),
        "version": d.get("version"),
        "outcome": d.get("outcome"),
        "time": d.get("at"),
    }
    if "reason" in d:
        entry["reason"] = d["reason"]
    return entry


def order_status(records: list[dict[str, Any]]) -> str | None:
    """One status for an order from its vshards' records.

    ``None`` if only a parked cancel exists or a ``POST /v1/orders`` order was released (refused or
    abandoned: it took nothing); ``reserved`` while such an order holds units and nothing is sold.
    """
    statuses = {r.get("status") for r in records} - {"parked_cancel", "released"}
    if not statuses:
        return None
    if statuses == {"cancelled"}:
        return "cancelled"
    if "cancelled" in statuses or "partially_cancelled" in statuses:
        return "partially_cancelled"
    if "oversold" in statuses:
        return "oversold"
    return "reserved" if statuses == {"reserved"} else "accepted"


def order_view(
    channel: str, order_id: str, records: list[dict[str, Any]], updated_at: float
) -> dict[str, Any] | None:
    """The unified order view: status, every line's request and grant, placement and cancel times."""
    status = order_status(records)
    if status is None:
        return None
    lines = [
        {k: line.get(k) for k in ("sku", "requested", "accepted", "outcome")}
        for r in records
        for line in r.get("lines", ())
        if not line.get("parked") and line.get("status") != "released"  # lines the order never held
    ]
    placed = min((r["at"] for r in records if "at" in r), default=None)
    cancelled = max((r["cancelled_at"] for r in records if "cancelled_at" in r), default=None)
    return {
        "channel": channel,
        "order_id": order_id,
        "status": status,
        "lines": lines,
        "placed_at": placed,
        "cancelled_at": cancelled,
        "updated_at": updated_at,
    }
