"""The pieces of ``benchmarks.capacity``: a private Redis and a throwaway PostgreSQL database, orders
as the Shopify adapter hands them to a shard, the shard commit path driven in-process (``ShardCore``,
what the ``SkuShard`` actor runs), Redis memory by record kind, and the archiver's drain."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import statistics
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import redis
import redis.asyncio as aioredis
from psycopg import sql

from engine.config import HistoryConfig
from engine.history.archive import Archive
from engine.history.drain import Drain
from engine.history.migrations import connect
from engine.history.streams import Tail
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, OrderWindows
from engine.store.buckets import bucket_span

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX, CHANNEL, SEED = "cap", "shop-main", 10**9
KEYS = Keys(PREFIX)


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run's own on a free loopback port, persistence off (as the Redis on
    6379 here runs), so ``used_memory`` moves only with what the benchmark writes; stopped at exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pings(url), 10, "the private redis-server to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A new database ``skusync_bench_<hex>`` on 127.0.0.1:5432; its URL; dropped at exit."""
    name = f"skusync_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``check`` every 50 ms; the seconds it took to hold. Raises after ``timeout_s``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
    return round(time.monotonic() - t0, 3)


def orders(n: int, lines: int, skus: list[str], rng: random.Random, first: int = 0) -> list[dict[str, Any]]:
    """``n`` marketplace orders in the wire form ``OrderPlaced`` dumps to (what the Shopify adapter
    sends a shard), ``lines`` distinct SKUs of ``skus`` each, one unit a line; Shopify-sized ids:
    a 13-digit order id and the key ``shopify:orders/create:<order id>:<event uuid>``."""
    now, out = time.time(), []
    for i in range(first, first + n):
        oid = str(5_600_000_000_000 + i)
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        picked = skus[:lines] if len(skus) <= lines else rng.sample(skus, lines)
        at = round(now + i / 1000, 3)
        out.append(
            {
                "key": f"shopify:orders/create:{oid}:{event_id}", "at": at, "channel": CHANNEL,
                "order_id": oid, "version": int(at * 1000),
                "lines": [{"sku": s, "quantity": 1, "kept": 0} for s in picked], "kind": "order_placed",
            }
        )  # fmt: skip
    return out


async def start_core(
    url: str, skus: list[str], vshards: int, idem_ttl_s: int, maxlen: int, windows: OrderWindows | None = None
) -> ShardCore:
    """One shard owning every vshard, its SKUs seeded straight into the stock hashes (a ``stock_set``
    per SKU would leave idempotency records and audit entries in the baseline)."""
    smap = ShardMap(1, vshards)
    pipe = redis.Redis.from_url(url).pipeline(transaction=False)
    for s in skus:
        pipe.hset(KEYS.stock(smap.vshard(s)), s, SkuRecord(SEED).encode())
    pipe.execute()
    client = aioredis.Redis.from_url(url, socket_timeout=30)
    core = ShardCore(0, smap, client, KEYS, idem_ttl_s=idem_ttl_s, audit_maxlen=maxlen, windows=windows)
    return await core.start()


def prime(r: redis.Redis, registry: str, window_s: int, buckets: int, records: int) -> None:
    """Record that the current time bucket of ``registry``'s ``window_s`` and the one before it
    each took ``records``, as a constant rate would have: the bucket then gets as many hashes as
    keep ~64 records each (``engine.store.buckets``), the steady state. Unprimed, a run's first
    bucket sizes itself for a quiet start (64 hashes), and 100,000 records make them hash tables."""
    span = bucket_span(window_s, buckets)
    b = int(r.time()[0]) // span  # type: ignore[index]
    r.hset(registry, mapping={f"{window_s}:{b - 1}:n": records, f"{window_s}:{b}:n": records})


async def stop_core(core: ShardCore) -> None:
    if core._committer is not None:
        core._committer.cancel()
    await core.store.r.aclose()


async def drive(
    core: ShardCore, events: list[dict[str, Any]], batch: int, depth: int, until: float | None = None
) -> dict[str, Any]:
    """Closed loop: ``depth`` batches of ``batch`` orders in flight, each answered once durable
    (saturation); stops early at ``until`` (perf_counter). Orders and lines decided per second."""
    inflight: set[asyncio.Future[Any]] = set()
    outcomes: Counter[str] = Counter()
    sent, t0 = 0, time.perf_counter()

    async def one(chunk: list[dict[str, Any]]) -> None:
        outcomes.update(d["outcome"] for d in (await core.apply_batch(chunk)).decisions)

    for i in range(0, len(events), batch):
        if until is not None and time.perf_counter() > until:
            break
        if len(inflight) >= depth:
            done, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
            for f in done:
                f.result()
        chunk = events[i : i + batch]
        inflight.add(asyncio.ensure_future(one(chunk)))
        sent += len(chunk)
    await asyncio.gather(*inflight)
    secs = time.perf_counter() - t0
    lines = sum(len(e["lines"]) for e in events[:sent])
    return {
        "orders": sent, "lines": lines, "seconds": round(secs, 3), "orders_per_s": round(sent / secs, 1),
        "lines_per_s": round(lines / secs, 1), "batch": batch, "batches_in_flight": depth,
        "outcomes": dict(outcomes),
    }  # fmt: skip


async def paced(
    core: ShardCore, events: list[dict[str, Any]], rate: float, tick: float = 0.01
) -> dict[str, Any]:
    """Open loop: every ``tick`` s the orders due at ``rate``/s go as one batch, answered or not
    (a gateway's batcher); latency from each batch's scheduled time to durable."""
    lat: list[float] = []
    tasks, sent, k, t0 = [], 0, 0, time.perf_counter()

    async def one(chunk: list[dict[str, Any]], due: float) -> None:
        await core.apply_batch(chunk)
        lat.append(time.perf_counter() - due)

    while sent < len(events):
        k += 1
        due = t0 + k * tick
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        upto = min(len(events), int(rate * k * tick))
        if upto > sent:
            tasks.append(asyncio.ensure_future(one(events[sent:upto], due)))
            sent = upto
    await asyncio.gather(*tasks)
    secs = time.perf_counter() - t0
    return {"offered_per_s": rate, "orders": sent, "seconds": round(secs, 3),
            "orders_per_s": round(sent / secs, 1), "latency_ms": quantiles(lat, 1000)}  # fmt: skip


def quantiles(xs: list[float], scale: float = 1.0) -> dict[str, float | int]:
    if not xs:
        return {"n": 0}
    s = sorted(xs)
    pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))] * scale, 3)  # noqa: E731
    return {"n": len(s), "p50": pick(0.5), "p99": pick(0.99), "max": round(s[-1] * scale, 3)}


def used_memory(r: redis.Redis, steady_s: float = 1.0) -> dict[str, int]:
    """``used_memory`` once steady (within 16 KiB for ``steady_s``), and ``net``: less the clients'
    buffers. After a commit its connection holds a query buffer the size of the payload (about
    1.2 MB per 1,000 orders), which Redis frees and accounts for only on a later cron tick; read at
    once, it counted as ~700 bytes an order in a 3,000-order run."""
    window, seen = int(steady_s / 0.1), []
    while True:
        seen.append(int(r.info("memory")["used_memory"]))
        if len(seen) >= window and max(seen[-window:]) - min(seen[-window:]) <= 16384:
            break
        if len(seen) > 600:
            raise TimeoutError("used_memory did not settle in 60 s")
        time.sleep(0.1)
    m = r.info("memory")
    return {"used_memory": int(m["used_memory"]), "mem_clients_normal": int(m["mem_clients_normal"]),
            "net": int(m["used_memory"]) - int(m["mem_clients_normal"])}  # fmt: skip


def kind_of(key: bytes) -> str:
    if b":idem:" in key:
        return "idempotency"
    if b":orders:" in key or b":order:" in key:  # bucket hashes; a key per record before
        return "order"
    if b":seen:" in key:
        return "marker"
    for suffix in ("audit", "stock"):
        if key.endswith(b":" + suffix.encode()):
            return suffix
    return "other"


def by_kind(r: redis.Redis, rng: random.Random, sample: int = 2000) -> dict[str, dict[str, Any]]:
    """Keys and bytes per record kind: ``MEMORY USAGE ... SAMPLES 0`` of every stream and stock
    hash, and of ``sample`` random idempotency and order records scaled to their count (what it
    leaves out: the expiry table's entry of a key with a TTL, the key table's own buckets)."""
    keys: dict[str, list[bytes]] = defaultdict(list)
    for k in r.scan_iter(count=10_000):
        keys[kind_of(k)].append(k)
    out: dict[str, dict[str, Any]] = {}
    for kind, ks in sorted(keys.items()):
        pick = rng.sample(ks, sample) if kind in ("idempotency", "order") and len(ks) > sample else ks
        pipe = r.pipeline(transaction=False)
        for k in pick:
            pipe.memory_usage(k, samples=0)
        sizes = [int(x or 0) for x in pipe.execute()]
        out[kind] = {"keys": len(ks), "sampled": len(pick), "bytes": round(sum(sizes) * len(ks) / len(pick)),
                     "mean_bytes_per_key": round(statistics.fmean(sizes), 1)}  # fmt: skip
        if kind == "audit":
            pipe = r.pipeline(transaction=False)
            for k in ks:
                pipe.xlen(k)
            out[kind]["entries"] = sum(pipe.execute())
    return out


def scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query.encode()).fetchone()
    return row[0] if row else None


def pg_sizes(url: str) -> dict[str, Any]:
    """``pg_total_relation_size`` (heap, indexes, TOAST) of every table, and the archive's row counts."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1"
        ).fetchall()
        entries, orders_ = (scalar(conn, f"SELECT count(*) FROM {t}") for t in ("audit_entries", "orders"))
    return {"bytes": {name: int(size) for name, size in rows}, "audit_entries": entries, "orders": orders_}


async def drain_all(redis_url: str, vshards: int, pg_url: str, keep_in_redis_s: float) -> dict[str, Any]:
    """The archiver's rounds (``engine.history.drain``, defaults of ``[history]``), back to back
    until the backlog is gone, as the archiver actor runs them while behind."""
    h = HistoryConfig()
    conn = await connect(pg_url)
    r = aioredis.Redis.from_url(redis_url)
    try:
        drain = Drain(r, KEYS, vshards, h.batch, keep_in_redis_s)
        rounds, t0 = 1, time.perf_counter()
        while await drain.round(Archive(conn)):
            rounds += 1
        secs = time.perf_counter() - t0
    finally:
        await conn.close()
        await r.aclose()
    s = drain.stats
    return {"archived": s.archived, "trimmed": s.trimmed, "rounds": rounds, "seconds": round(secs, 3),
            "entries_per_s": round(s.archived / secs, 1), "batch": h.batch}  # fmt: skip


class TimedDrain(Drain):
    """``Drain`` noting, at each read, when it read and the age of the oldest entry not yet stored."""

    seen: tuple[float, float, int] = (0.0, 0.0, 0)

    async def observe(self) -> Tail:
        tail = await super().observe()
        self.seen = (time.time(), self.stats.lag_s, len(tail))
        return tail


async def archive_rounds(
    redis_url: str, vshards: int, pg_url: str, keep_in_redis_s: float, stop: Any
) -> tuple[list[tuple[float, int, float]], int]:
    """Archiver rounds as ``actors.archiver`` runs them (``[history]`` defaults but
    ``keep_in_redis_s``) until ``stop``: a row per round that stored entries, (time it ended,
    entries, age of its oldest entry when it ended), and the entries the drain found lost."""
    h = HistoryConfig()
    conn = await connect(pg_url)
    r = aioredis.Redis.from_url(redis_url)
    drain = TimedDrain(r, KEYS, vshards, h.batch, keep_in_redis_s)
    rows = []
    while not stop.is_set():
        more = await drain.round(Archive(conn))
        at, lag, n = drain.seen
        if n:
            end = time.time()
            rows.append((end, n, lag + end - at))
        if not more:
            await asyncio.sleep(h.interval_s)
    await conn.close()
    await r.aclose()
    return rows, drain.stats.lost


def archiver_process(redis_url: str, vshards: int, pg_url: str, stop: Any, out: Any) -> None:
    """An archiver in a process of its own (as the actor runs beside the shards), with the
    ``[history]`` defaults; puts its rows (``archive_rounds``)."""
    rounds = archive_rounds(redis_url, vshards, pg_url, HistoryConfig().keep_in_redis_s, stop)
    out.put(asyncio.run(rounds)[0])
