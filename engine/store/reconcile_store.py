"""Reconciliation's state in Redis: per-channel order watermarks, last drift reports, known orders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import redis.asyncio as aioredis

from engine.reconcile import ChannelOrder, DriftReport
from engine.routing import ShardMap
from engine.store.keys import Keys
from engine.store.order_records import read_order_records


class ReconcileStore:
    """Watermarks and reports under ``<prefix>:reconcile:*``; order records where the ledger keeps them."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, shard_map: ShardMap) -> None:
        self.redis, self.keys, self.shard_map = redis, keys, shard_map
        self.watermarks_key = f"{keys.prefix}:reconcile:watermarks"
        self.reports_key = f"{keys.prefix}:reconcile:reports"

    async def watermark(self, channel_id: str) -> float | None:
        """The newest order modification time already backfilled for ``channel_id`` (None: never)."""
        raw = await self.redis.hget(self.watermarks_key, channel_id)
        return None if raw is None else float(raw)

    async def set_watermark(self, channel_id: str, value: float) -> None:
        """Store ``value`` unless a newer watermark is stored (two runs may finish out of order)."""
        current = await self.watermark(channel_id)
        if current is None or value > current:
            await self.redis.hset(self.watermarks_key, channel_id, repr(value))

    async def save_report(self, report: DriftReport) -> None:
        await self.redis.hset(self.reports_key, report.channel, orjson.dumps(report.to_json()))

    async def reports(self) -> dict[str, dict[str, Any]]:
        """The last report of every channel, by channel id."""
        raw = await self.redis.hgetall(self.reports_key)
        return {(k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in raw.items()}

    async def known_orders(self, channel_id: str, orders: Iterable[ChannelOrder]) -> dict[str, int | None]:
        """Order id -> newest version master holds, for the orders master has recorded as sales (not
        merely a parked cancel), one pipelined read (``engine.store.order_records``). The version is
        None for a record without one.

        Each order is looked up in the vshard of its first line's SKU, where the ledger writes that
        line's record (every version of a document names every line, so that line carries the
        order's version). An optimisation only: the ledger deduplicates whatever this answers.
        """
        wanted = [(self.shard_map.vshard(o.lines[0][0]), channel_id, o.order_id) for o in orders if o.lines]
        if not wanted:
            return {}
        known: dict[str, int | None] = {}
        records = await read_order_records(self.redis, self.keys, wanted)
        for (_, _, order_id), record in zip(wanted, records, strict=True):
            if record is not None and record.get("status") != "parked_cancel":
                versions = [ln["ver"] for ln in record.get("lines", []) if isinstance(ln.get("ver"), int)]
                known[order_id] = max(versions) if versions else None
        return known
