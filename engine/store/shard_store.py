"""A shard's view of Redis: claim its vshards, load them, read a batch's records, commit plans.

Each method is one network round trip (one script call), whatever the batch size: one Redis call per
decision would cap the system at the ~13,000 calls/s measured for single Lua calls. Async
(``redis.asyncio``) so a shard can decide its next batch while the last one is being written.
"""

from __future__ import annotations

import secrets
import time
from hashlib import sha1
from importlib import resources
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from engine.idempotency import join
from engine.ledger import Fetched, IdemKey, OrderKey, VShardWrites
from engine.records import SkuRecord
from engine.store.idem_layout import idem_bucket_s, key_digest
from engine.store.keys import Keys
from engine.store.order_records import ORDER_BUCKETS, field, legacy_until, order_digest
from engine.store.order_windows import LEGACY_MARKER_BUCKETS, MARKER_BUCKETS, OrderWindows
from engine.store.script_conn import ScriptConnection

_COMMIT_LUA = resources.files("engine.store").joinpath("commit.lua").read_text()
_FETCH_LUA = resources.files("engine.store").joinpath("fetch.lua").read_text()
_RECLAIM_LUA = resources.files("engine.store").joinpath("reclaim.lua").read_text()


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
        windows: OrderWindows | None = None,
    ) -> None:
        self.r = client
        self.keys = keys
        self.shard = shard
        self.vshards = vshards
        self.idem_ttl_s = idem_ttl_s
        self.park_ttl_s = park_ttl_s
        self.audit_maxlen = audit_maxlen
        self.windows = windows or OrderWindows()
        """Order record retention and marker window (``engine.store.order_windows``)."""
        self.token: str | None = None
        # Tokens are "shard:activation.number:epoch": the activation tells this store's tokens
        # from a newer activation's, the number orders its own claims and reclaims (reclaim.lua).
        self._mine = f"{shard}:{secrets.token_hex(8)}."
        self._attempts = 0
        """Claims and reclaims started, so the number of the last one."""
        self._held = 0
        """Number of the claim or reclaim that set ``token``."""
        # Once per reload, not per batch: redis-py's Script (EVALSHA, SCRIPT LOAD on NOSCRIPT) will do.
        self._reclaim = client.register_script(_RECLAIM_LUA)
        # Plain EVALSHA: redis-py's Script objects in a pipeline send SCRIPT EXISTS before every
        # pipeline, an extra round trip per read and per commit. Scripts are loaded at ``claim``
        # and again on NOSCRIPT (a Redis restart or SCRIPT FLUSH empties the cache). Both scripts
        # touch keys of several vshards (hash tags) in one call: a single Redis, not Cluster.
        self._commit_sha = sha1(_COMMIT_LUA.encode()).hexdigest()
        self._fetch_sha = sha1(_FETCH_LUA.encode()).hexdigest()
        self._tags = {vs: keys.tag(vs) for vs in vshards}
        self._idem_registry = keys.idem_registry()
        self._order_registry = keys.order_registry()
        self._legacy_until = 0.0
        """Until when records of the layout before the buckets may live (``_legacy_window``)."""
        self._seen_registry = keys.seen_registry()
        w = self.windows
        self._short_markers = any(w.marker_outlived(c) for c in ["", *w.channels])
        """Whether some channel's records may outlive their markers (``OrderWindows.marker_outlived``)."""
        self._legacy_orders_until = self._legacy_markers_until = 0.0
        """The same for order records and markers (``engine.store.order_records.legacy_until``)."""
        # The two hot calls bypass redis-py's client (4-6x their CPU; ``engine.store.script_conn``).
        # Reads and commits on connections of their own: Redis answers one connection's calls in
        # order, so a read queued behind a large commit would wait for it.
        self._reads = ScriptConnection.for_client(client)
        self._writes = ScriptConnection.for_client(client)

    async def _evalsha(self, conn: ScriptConnection | None, sha: str, *args: str | bytes | int) -> Any:
        if conn is None:  # TLS, a Unix socket or a credential provider: redis-py does it
            return await self.r.evalsha(sha, 0, *args)
        return await conn.evalsha(sha, 0, *args)

    async def check_layout(self, total_vshards: int) -> None:
        """Refuse to run on data written with a different vshard count (keys would not match)."""
        stored = await self.r.hsetnx(self.keys.meta(), "vshards", total_vshards)
        if not stored:
            existing = int(await self.r.hget(self.keys.meta(), "vshards") or total_vshards)
            if existing != total_vshards:
                raise RuntimeError(f"store holds data for {existing} vshards, configured {total_vshards}")

    async def claim(self) -> str:
        """Start a new epoch and take ownership of every owned vshard, fencing older activations.

        Unconditional: for start-up, when whoever owned the vshards before is to be retired. A
        running shard that must fence its own earlier writes uses ``reclaim``.
        """
        self._attempts += 1
        attempt = self._attempts
        epoch = await self.r.incr(self.keys.epoch(self.shard))
        token = f"{self._mine}{attempt}:{epoch}"
        pipe = self.r.pipeline(transaction=False)
        for vs in self.vshards:
            pipe.set(self.keys.owner(vs), token)
        await pipe.execute()
        await self._load_scripts()
        await self._legacy_window()
        await self._legacy_orders()
        self.token, self._held = token, attempt
        return token

    async def _legacy_window(self) -> None:
        """Whether lookups must also read records of the layout before the buckets (a key per
        record, ``<prefix>:idem:<key>``): for one idempotency window after the first start with
        buckets, if any such record was there. Decided once per deployment (the first claim
        scans the keyspace for one) and kept in the registry: a retry of an event decided before
        the upgrade must still find its record, or it would be decided (and counted) again."""
        reg = self._idem_registry
        until = await self.r.hget(reg, "legacy")
        if until is None:
            found = False
            pattern = f"{self.keys.prefix}:idem:*"
            async for _ in self.r.scan_iter(match=pattern, count=10_000, _type="string"):
                found = True
                break
            now = int((await self.r.time())[0])
            await self.r.hsetnx(reg, "legacy", now + self.idem_ttl_s + 3600 if found else 0)
            until = await self.r.hget(reg, "legacy")
        self._legacy_until = float(until or 0)

    async def _legacy_orders(self) -> None:
        """Whether lookups must also read order records and markers of the layout before the
        buckets (``engine.store.order_records.legacy_until``)."""
        w, tag = self.windows, f"{self.keys.prefix}:{{v*}}"
        longest = max(self.park_ttl_s, w.retention_s, *w.channels.values())
        reg = self.keys.order_registry()
        self._legacy_orders_until = await legacy_until(self.r, reg, f"{tag}:order:*", "string", longest)
        reg, longest = self.keys.seen_registry(), w.marker_s + w.legacy_bucket_s
        self._legacy_markers_until = await legacy_until(self.r, reg, f"{tag}:seen:*", "hash", longest)

    async def reclaim(self) -> str:
        """Take a new epoch on every owned vshard, unless another activation has taken one.

        For a reload after a failed commit. A commit given up on (a reply later than the
        client's timeout, a lost connection) may still be on its way to Redis, and a reload
        alone would not see it if it ran after the load: memory behind Redis, whose next commit
        from memory would overwrite it while its idempotency records answer "accepted". After
        this call it cannot land: Redis runs scripts one at a time, so that commit ran before
        this one (the reload that follows sees it) or runs after and finds its token replaced
        (it writes nothing). A compare-and-set, not ``claim``: it never takes a vshard back from
        a newer activation, which would let two activations write.

        Raises ``FencedError`` if another activation owns a vshard (nothing is changed), and
        ``StoreUnavailable`` on any other failure; it may then have run, and the next call
        accepts the token it set (see reclaim.lua).
        """
        if self.token is None:
            raise FencedError("shard has not claimed its vshards")
        self._attempts += 1
        attempt = self._attempts
        owners = orjson.dumps([self.keys.owner(vs) for vs in self.vshards])
        args: list[str | int | bytes] = [self.keys.epoch(self.shard), self._mine, self._held, attempt, owners]
        try:
            reply = await self._reclaim(args=args)
        except redis.ResponseError as exc:
            if "FENCED" in str(exc):
                raise FencedError(str(exc)) from exc
            raise StoreUnavailable(str(exc)) from exc
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self.token = reply.decode() if isinstance(reply, bytes) else str(reply)
        self._held = attempt
        return self.token

    async def _load_scripts(self) -> None:
        for text in (_COMMIT_LUA, _FETCH_LUA):
            await self.r.script_load(text)

    async def load(self) -> dict[str, SkuRecord]:
        """Every SKU record of the owned vshards (after ``claim`` or ``reclaim``: nothing older writes)."""
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
        """Read idempotency and order records (as JSON) in one call; absent ones map to ``None``."""
        fetched = Fetched(since=since)
        if not idem and not orders:
            return fetched
        tag, digest = self._tags, order_digest
        where = [digest(ch, oid) for _, ch, oid in orders]
        outlived = self.windows.marker_outlived
        blob = orjson.dumps(
            [(d[0], field(d[1], vs), 1) if self._short_markers and outlived(ch) else (d[0], field(d[1], vs))
             for d, (vs, ch, _) in zip(where, orders, strict=True)]
        )  # fmt: skip
        digests = orjson.dumps([key_digest(key) for key in idem])
        legacy = self._legacy_until > time.time()
        names = orjson.dumps([self._idem_registry + ":" + key for key in idem] if legacy else [])
        # the order records' keys of the layout before the buckets, while some may live
        old_layout = self._legacy_orders_until > time.time()
        old = [f"{tag[vs]}:order:{ch}:{oid}" for vs, ch, oid in orders] if old_layout else []
        # Where to look for markers of the layout before (fetch.lua), while some may live.
        old_markers = self._legacy_markers_until > time.time()
        seen = orjson.dumps(
            {"t": [tag[vs] for vs, _, _ in orders], "m": [d[2] for d in where],
             "s": self.windows.legacy_bucket_s, "k": LEGACY_MARKER_BUCKETS + 1}
            if old_markers else {"t": []}
        )  # fmt: skip
        args = (
            blob, seen, digests, self._idem_registry, names, self._order_registry, orjson.dumps(old),
            self._seen_registry,
        )  # fmt: skip
        try:
            try:
                reply = await self._evalsha(self._reads, self._fetch_sha, *args)
            except redis.exceptions.NoScriptError:  # reads only: load the scripts, read again
                await self._load_scripts()
                reply = await self._evalsha(self._reads, self._fetch_sha, *args)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        values = orjson.loads(reply)
        n_idem, n_orders = len(idem), len(orders)
        found = values[:n_idem]
        if legacy:  # a record of each layout (an event split across the upgrade): joined, older first
            for i, old in enumerate(values[n_idem + n_orders :]):
                if old is not None:
                    found[i] = join(old, found[i]) if found[i] is not None else old
        fetched.idem = dict(zip(idem, found, strict=True))
        fetched.orders = dict(zip(orders, values[n_idem : n_idem + n_orders], strict=True))
        return fetched

    async def commit(self, plans: list[dict[int, VShardWrites]]) -> None:
        """Persist plans in order, every vshard they touch, atomically in one script call.

        Raises ``FencedError`` if a vshard has a newer owner (then nothing was written),
        ``StoreUnavailable`` on any other failure. After a failure the caller must reload from
        Redis before deciding again: a connection lost after the script ran leaves the commit
        landed but unanswered (retried events then find it through their idempotency records).
        """
        if self.token is None:
            raise FencedError("shard has not claimed its vshards")
        payload = orjson.dumps([self._group(vs, w) for writes in plans for vs, w in writes.items()])
        try:
            await self._evalsha(
                self._writes,
                self._commit_sha,
                self.token,
                self.idem_ttl_s,
                self.audit_maxlen,
                payload,
                self._idem_registry,
                idem_bucket_s(self.idem_ttl_s),
                self._order_registry,
                ORDER_BUCKETS,
                self._seen_registry,
                self.windows.marker_s,
                MARKER_BUCKETS,
            )
        except redis.exceptions.NoScriptError as exc:
            # Nothing ran; failing the batch (rather than retrying here) keeps one path for every
            # failed commit: reload, then decide again.
            await self._load_scripts()
            raise StoreUnavailable(f"Redis had lost the commit script (reloaded): {exc}") from exc
        except redis.ResponseError as exc:
            if "FENCED" in str(exc):
                raise FencedError(str(exc)) from exc
            raise StoreUnavailable(str(exc)) from exc
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _group(self, vs: int, w: VShardWrites) -> dict[str, Any]:
        return {
            "b": self._tags[vs],
            "s": list(w.stock.items()),
            "i": [[*key_digest(key), value, merge] for key, value, merge in w.idem],
            "a": w.audit,
            "o": [
                self._order(vs, ch, oid, value, parked, (ch, oid) in w.fresh)
                for (ch, oid), (value, parked) in w.orders.items()
            ],
        }

    def _order(
        self, vs: int, channel: str, order_id: str, value: str, parked: bool, fresh: bool
    ) -> list[str | int | bool]:
        """A record's write (``engine.store.order_records``): a parked cancel (its order may never
        come) expires with the idempotency window and leaves no marker; any other record keeps its
        channel's retention from this write on and marks its order (``engine.store.order_windows``).
        A record that is not ``fresh`` replaces one, whose copy in another bucket is deleted."""
        selector, part, _ = order_digest(channel, order_id)
        if parked:
            return [selector, field(part, vs), value, self.park_ttl_s, False, fresh]
        return [selector, field(part, vs), value, self.windows.retention(channel), True, fresh]
