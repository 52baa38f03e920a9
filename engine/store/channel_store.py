"""A channel account's durable state in Redis: pending targets, what it lists, its catalog, dead letters.

The pending hash and the listed hash are written only through two Lua scripts that compare master
versions, so writes may arrive in any order and any number of times: an older target never
overwrites a newer one, and an acknowledgement removes a pending target only if it is not newer.
That makes every method here safe to retry and free of read-modify-write races between the
actor's concurrent tasks (which may use different pooled connections).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from engine.channel_records import DeadLetter, Synced, Target
from engine.store.keys import Keys

_VERSION = """local function ver(raw)
  if not raw then return -1 end
  return tonumber(string.match(raw, '"version":(%-?%d+)')) or -1
end
"""

# KEYS: pending, listed. ARGV: sku, version, target JSON, ... Set a target only if it is newer than
# both the pending one and what the channel is known to list.
PUT_LUA = (
    _VERSION
    + """local n = 0
for i = 1, #ARGV, 3 do
  local v = tonumber(ARGV[i + 1])
  if v > ver(redis.call('HGET', KEYS[1], ARGV[i])) and v > ver(redis.call('HGET', KEYS[2], ARGV[i])) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
return n
"""
)

# KEYS: pending, listed. ARGV: sku, version, listed JSON or '' (drop only), ... Record the listing
# unless a newer one is recorded; remove the pending target unless it is newer.
SETTLE_LUA = (
    _VERSION
    + """for i = 1, #ARGV, 3 do
  local sku, v = ARGV[i], tonumber(ARGV[i + 1])
  if ARGV[i + 2] ~= '' and v >= ver(redis.call('HGET', KEYS[2], sku)) then
    redis.call('HSET', KEYS[2], sku, ARGV[i + 2])
  end
  if ver(redis.call('HGET', KEYS[1], sku)) <= v then
    redis.call('HDEL', KEYS[1], sku)
  end
end
return 1
"""
)

_CHUNK = 1000  # SKUs per script call: bounds how long one call holds Redis


@dataclass(frozen=True)
class DlqEntry:
    """One dead-lettered update. ``request`` and ``response`` must hold no credentials (no headers)."""

    channel: str
    sku: str
    target: Target
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    error: str
    attempts: int
    at: float

    @classmethod
    def of(
        cls,
        channel: str,
        dead: DeadLetter,
        request: Mapping[str, Any] | None,
        response: Mapping[str, Any] | None,
        at: float,
    ) -> DlqEntry:
        """The entry for one SKU: ``request`` gets the update this SKU contributed to the call."""
        sent = dead.sent
        update = {"sku": sent.sku, "quantity": sent.quantity, "version": sent.target.version}
        req = {**(request or {}), "update": update | {"ids": dict(sent.ids)}}
        return cls(channel, sent.sku, dead.target, req, response, dead.error, dead.attempts, at)

    def fields(self) -> dict[Any, Any]:
        return {
            "channel": self.channel,
            "sku": self.sku,
            "target": self.target.encode(),
            "request": orjson.dumps(self.request),
            "response": orjson.dumps(self.response),
            "error": self.error,
            "attempts": str(self.attempts),
            "at": repr(self.at),
        }


def decode_dlq(entry_id: bytes, raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A stream entry as JSON-ready ``{id, channel, sku, target, request, response, error, attempts, at}``."""
    f = {k.decode(): v for k, v in raw.items()}
    return {
        "id": entry_id.decode(),
        "channel": f["channel"].decode(),
        "sku": f["sku"].decode(),
        "target": orjson.loads(f["target"]),
        "request": orjson.loads(f["request"]),
        "response": orjson.loads(f["response"]),
        "error": f["error"].decode(),
        "attempts": int(f["attempts"]),
        "at": float(f["at"]),
    }


async def dlq_entries(
    client: aioredis.Redis, keys: Keys, channel: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters, oldest first, of ``channel`` (or of every channel)."""
    out: list[dict[str, Any]] = []
    start = "-"
    while len(out) < limit:
        rows: list[Any] = await client.xrange(keys.dlq(), min=start, count=_CHUNK) or []
        for entry_id, raw in rows:
            if channel is None or raw[b"channel"].decode() == channel:
                out.append(decode_dlq(entry_id, raw))
        if len(rows) < _CHUNK:
            break
        start = "(" + rows[-1][0].decode()
    return out[:limit]


class ChannelStore:
    """Durable state of channel account ``channel_id`` under ``keys`` (see ``Keys.channel_*``)."""

    def __init__(
        self, client: aioredis.Redis, keys: Keys, channel_id: str, dlq_maxlen: int = 100_000
    ) -> None:
        self.r = client
        self.keys = keys
        self.channel_id = channel_id
        self.dlq_maxlen = dlq_maxlen
        self._pending = keys.channel_pending(channel_id)
        self._listed = keys.channel_listed(channel_id)
        self._put = client.register_script(PUT_LUA)
        self._settle = client.register_script(SETTLE_LUA)

    async def load(self) -> tuple[dict[str, Target], dict[str, Synced]]:
        """The pending targets and the known listings, for a (re)starting actor."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self._pending)
        pipe.hgetall(self._listed)
        pending, listed = await pipe.execute()
        return (
            {k.decode(): Target.decode(v) for k, v in pending.items()},
            {k.decode(): Synced.decode(v) for k, v in listed.items()},
        )

    async def put_pending(self, targets: Mapping[str, Target]) -> int:
        """Make ``targets`` durable (each only if newer than what is stored); returns how many were."""
        stored = 0
        for chunk in _chunks([(s, t.version, t.encode()) for s, t in targets.items()]):
            stored += int(await self._put(keys=[self._pending, self._listed], args=chunk))
        return stored

    async def settle(self, synced: Mapping[str, Synced]) -> None:
        """Record what the channel now lists and drop the pending targets these versions cover."""
        for chunk in _chunks([(s, k.version, k.encode()) for s, k in synced.items()]):
            await self._settle(keys=[self._pending, self._listed], args=chunk)

    async def drop_pending(self, versions: Mapping[str, int]) -> None:
        """Remove pending targets no newer than ``versions`` (dead-lettered SKUs)."""
        for chunk in _chunks([(s, v, b"") for s, v in versions.items()]):
            await self._settle(keys=[self._pending, self._listed], args=chunk)

    async def pending_count(self) -> int:
        return int(await self.r.hlen(self._pending))

    async def load_catalog(self) -> dict[str, dict[str, Any]] | None:
        """The last imported SKU -> ids map, or None if there never was an import."""
        raw: dict[bytes, bytes] = await self.r.hgetall(self.keys.channel_catalog(self.channel_id))  # type: ignore[assignment]
        return {k.decode(): orjson.loads(v) for k, v in raw.items()} if raw else None

    async def save_catalog(self, catalog: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the stored catalog in one transaction (readers never see half of it)."""
        key = self.keys.channel_catalog(self.channel_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(key)
        items = list(catalog.items())
        for i in range(0, len(items), _CHUNK):
            pipe.hset(key, mapping={sku: orjson.dumps(dict(ids)) for sku, ids in items[i : i + _CHUNK]})
        await pipe.execute()

    async def dead_letter(self, entries: list[DlqEntry]) -> None:
        """Append ``entries`` to the DLQ, then drop their pending targets.

        In that order: a crash in between leaves the target both dead-lettered and pending, which a
        restart pushes again (harmless, quantities are absolute); the reverse order could lose it.
        A retry may add an entry twice; a redrive takes the newest target per SKU, so that is harmless.
        """
        if not entries:
            return
        pipe = self.r.pipeline(transaction=False)
        for entry in entries:
            pipe.xadd(self.keys.dlq(), entry.fields(), maxlen=self.dlq_maxlen, approximate=True)
        await pipe.execute()
        await self.drop_pending({e.sku: e.target.version for e in entries})

    async def dlq(self, limit: int = 100) -> list[dict[str, Any]]:
        """This channel's dead letters, oldest first."""
        return await dlq_entries(self.r, self.keys, self.channel_id, limit)

    async def dlq_delete(self, ids: list[str]) -> int:
        """Remove entries (after a redrive made their targets pending again)."""
        return int(await self.r.xdel(self.keys.dlq(), *ids)) if ids else 0


def _chunks(rows: list[tuple[str, int, bytes]]) -> list[list[str | int | bytes]]:
    return [[x for row in rows[i : i + _CHUNK] for x in row] for i in range(0, len(rows), _CHUNK)]
