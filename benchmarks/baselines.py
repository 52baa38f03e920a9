"""What a seller would use instead of skusync: a Redis Lua conditional decrement, a PostgreSQL UPDATE.

Each returns decisions per second for ``n`` single-unit sales on one hot row/key, measured
back to back from this Python process (the same place our own driver runs). ``redis_lua_durable``
is not a seller's tool but a yardstick: the same conditional decrement plus the records skusync
keeps per sale (idempotency record for its 72 h window, order record for its 90-day window, audit
entry), so a reader can tell
the cost of those guarantees from the cost of our Python.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from benchmarks.common import delete_prefix

DECR_LUA = """
local q = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if q >= want then return redis.call('DECRBY', KEYS[1], want) end
return -1
"""

DURABLE_LUA = """
local idem = KEYS[1] .. ':idem:' .. ARGV[1]
local seen = redis.call('GET', idem)
if seen then return seen end
local q = tonumber(redis.call('HGET', KEYS[1] .. ':stock', 'HOT') or '0')
local want = tonumber(ARGV[3])
local granted = want
if q < want then granted = 0 end
if granted > 0 then redis.call('HINCRBY', KEYS[1] .. ':stock', 'HOT', -granted) end
local decision = '{"key":"' .. ARGV[1] .. '","outcome":"applied","sku":"HOT","accepted":' .. granted ..
  ',"available":' .. (q - granted) .. '}'
redis.call('SET', idem, decision, 'EX', 259200)
redis.call('SET', KEYS[1] .. ':order:bench:' .. ARGV[2], decision, 'EX', 7776000)
redis.call('XADD', KEYS[1] .. ':audit', 'MAXLEN', '~', 100000, '*', 'd', decision)
return decision
"""


def redis_lua(url: str, n: int, depth: int) -> dict[str, Any]:
    """Conditional decrement by Lua; ``depth`` 1 = one call at a time, else pipelined that deep."""
    r = redis.Redis.from_url(url)
    key = "bench:baseline:hot"
    r.set(key, n * 10)
    script = r.register_script(DECR_LUA)
    script(keys=[key], args=[1])
    t0 = time.perf_counter()
    if depth == 1:
        for _ in range(n):
            script(keys=[key], args=[1])
    else:
        for start in range(0, n, depth):
            pipe = r.pipeline(transaction=False)
            for _ in range(min(depth, n - start)):
                script(keys=[key], args=[1], client=pipe)
            pipe.execute()
    dt = time.perf_counter() - t0
    r.delete(key)
    return {"decisions": n, "seconds": round(dt, 3), "per_s": round(n / dt, 1), "depth": depth}


def redis_lua_durable(url: str, n: int, depth: int) -> dict[str, Any]:
    """``DURABLE_LUA`` pipelined ``depth`` deep: skusync's per-sale records without skusync."""
    r = redis.Redis.from_url(url)
    base = "bench:baseline:{durable}"
    r.hset(f"{base}:stock", "HOT", n * 10)
    sha = r.script_load(DURABLE_LUA)  # plain EVALSHA: a Script object adds SCRIPT EXISTS per pipeline
    t0 = time.perf_counter()
    for start in range(0, n, depth):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + depth, n)):
            pipe.evalsha(sha, 1, base, f"k{i}", f"o{i}", 1)
        pipe.execute()
    dt = time.perf_counter() - t0
    left = int(r.hget(f"{base}:stock", "HOT") or 0)
    delete_prefix(url, base)
    if left != n * 9:
        raise RuntimeError(f"durable Lua baseline took {n * 10 - left} units for {n} sales")
    return {"decisions": n, "seconds": round(dt, 3), "per_s": round(n / dt, 1), "depth": depth}


def postgres_update(dsn: str, n: int, clients: int = 2) -> dict[str, Any]:
    """``UPDATE stock SET qty = qty - $1 WHERE sku = $2 AND qty >= $1``, autocommit, ``clients`` threads."""
    try:
        import psycopg
    except ImportError:
        return {"skipped": "psycopg not installed"}
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS skusync_bench_stock (sku text PRIMARY KEY, qty bigint)")
            conn.execute(
                "INSERT INTO skusync_bench_stock VALUES ('HOT', %s) ON CONFLICT (sku) DO UPDATE "
                "SET qty = EXCLUDED.qty",
                (n * 10,),
            )
    except psycopg.OperationalError as exc:
        return {"skipped": f"PostgreSQL unavailable: {str(exc).strip().splitlines()[0]}"}
    per_client = n // clients

    def work() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(per_client):
                conn.execute(
                    "UPDATE skusync_bench_stock SET qty = qty - %s WHERE sku = %s AND qty >= %s",
                    (1, "HOT", 1),
                    prepare=True,
                )

    threads = [threading.Thread(target=work) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE skusync_bench_stock")
    done = per_client * clients
    return {"decisions": done, "seconds": round(dt, 3), "per_s": round(done / dt, 1), "clients": clients}
