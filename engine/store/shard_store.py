"""A shard's view of Redis: claim its vshards, load them, read a batch's records, commit plans.

Each method is one network round trip (a pipeline), whatever the batch size: one Redis call per
decision would cap the system at the ~13,000 calls/s measured for single Lua calls. Async
(``redis.asyncio``) so a shard can decide its next batch while the last one is being written.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from engine.ledger import Fetched, IdemKey, OrderKey, VShardWrites
from engine.records import SkuRecord
from engine.store.keys import Keys

_COMMIT_LUA = resources.files("engine.store").joinpath("commit.lua").read_text()
_FETCH_LUA = resources.files("engine.store").joinpath("fetch.lua").read_text()


class FencedError(RuntimeError):
    """A newer activation of this shard owns the vshards: this one must stop writing."""


class StoreUnavailable(RuntimeError):
    """Redis could not be reached or refused a write; the batch was not answered and may be retried."""


class ShardStore:
    """Storage for one physical shard: the vshards it owns and the epoch it holds them under."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        shard: int,
        vshards: list[int],
        idem_ttl_s: int = 72 * 3600,
        park_ttl_s: int = 72 * 3600,
        audit_maxlen: int = 100_000,
    ) -> None:
        self.r = client
        self.keys = keys
        self.shard = shard
        self.vshards = vshards
        self.idem_ttl_s = idem_ttl_s
        self.park_ttl_s = park_ttl_s
        self.audit_maxlen = audit_maxlen
        self.token: str | None = None
        self._commit = self.r.register_script(_COMMIT_LUA)
        self._fetch = self.r.register_script(_FETCH_LUA)

    async def check_layout(self, total_vshards: int) -> None:
        """Refuse to run on data written with a different vshard count (keys would not match)."""
        stored = await self.r.hsetnx(self.keys.meta(), "vshards", total_vshards)
        if not stored:
            existing = int(await self.r.hget(self.keys.meta(), "vshards") or total_vshards)
            if existing != total_vshards:
                raise RuntimeError(f"store holds data for {existing} vshards, configured {total_vshards}")

    async def claim(self) -> str:
        """Start a new epoch and take ownership of every owned vshard, fencing older activations."""
        epoch = await self.r.incr(self.keys.epoch(self.shard))
        token = f"{self.shard}:{epoch}"
        pipe = self.r.pipeline(transaction=False)
        for vs in self.vshards:
            pipe.set(self.keys.owner(vs), token)
        await pipe.execute()
        self.token = token
        return token

    async def load(self) -> dict[str, SkuRecord]:
        """Every SKU record of the owned vshards (call after ``claim``, so nothing older can write)."""
        pipe = self.r.pipeline(transaction=False)
        for vs in self.vshards:
            pipe.hgetall(self.keys.stock(vs))
        records: dict[str, SkuRecord] = {}
        decode = SkuRecord.decode
        for h in await pipe.execute():
            for sku, raw in h.items():
                records[sku.decode()] = decode(raw)
        return records

    async def fetch(self, idem: list[IdemKey], orders: list[OrderKey], since: int) -> Fetched:
        """Read idempotency and order records (as JSON) in one round trip; absent ones map to ``None``."""
        fetched = Fetched(since=since)
        if not idem and not orders:
            return fetched
        groups: dict[int, tuple[list[str], list[tuple[dict[Any, str | None], Any]]]] = defaultdict(
            lambda: ([], [])
        )
        for ik in idem:
            names, targets = groups[ik[0]]
            names.append(f"idem:{ik[1]}")
            targets.append((fetched.idem, ik))
        for ok in orders:
            names, targets = groups[ok[0]]
            names.append(f"order:{ok[1]}:{ok[2]}")
            targets.append((fetched.orders, ok))
        pipe = self.r.pipeline(transaction=False)
        for vs, (names, _) in groups.items():
            await self._fetch(
                keys=[self.keys.owner(vs)], args=[self.keys.tag(vs), orjson.dumps(names)], client=pipe
            )
        try:
            replies = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        for (_, targets), reply in zip(groups.values(), replies, strict=True):
            for (target, key), value in zip(targets, orjson.loads(reply), strict=True):
                target[key] = value
        return fetched

    async def commit(self, plans: list[dict[int, VShardWrites]]) -> None:
        """Persist plans in order: one Lua call per touched vshard, all in one pipeline (one round trip).

        Raises ``FencedError`` if a vshard has a newer owner, ``StoreUnavailable`` on any other
        failure. Vshard scripts commit independently, so after a failure some may have landed:
        the caller must reload from Redis before deciding again (retried events then find the
        landed parts through their idempotency records).
        """
        if self.token is None:
            raise FencedError("shard has not claimed its vshards")
        pipe = self.r.pipeline(transaction=False)
        for writes in plans:
            for vs, w in writes.items():
                keys, args = self._commit_args(vs, w)
                await self._commit(keys=keys, args=args, client=pipe)
        try:
            await pipe.execute()
        except redis.ResponseError as exc:
            if "FENCED" in str(exc):
                raise FencedError(str(exc)) from exc
            raise StoreUnavailable(str(exc)) from exc
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _commit_args(self, vs: int, w: VShardWrites) -> tuple[list[str], list[Any]]:
        k = self.keys
        payload = orjson.dumps(
            {
                "s": list(w.stock.items()),
                "i": w.idem,
                "a": w.audit,
                "o": [[ch, oid, value, expires] for (ch, oid), (value, expires) in w.orders.items()],
            }
        )
        keys = [k.owner(vs), k.stock(vs), k.audit(vs)]
        return keys, [self.token, self.idem_ttl_s, self.audit_maxlen, self.park_ttl_s, k.tag(vs), payload]
