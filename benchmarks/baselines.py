"""What a seller would use instead of skusync: a Redis Lua conditional decrement, a PostgreSQL UPDATE.

Each returns decisions per second for ``n`` single-unit sales on one hot row/key, measured
back to back from this Python process (the same place our own driver runs).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

DECR_LUA = """
local q = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if q >= want then return redis.call('DECRBY', KEYS[1], want) end
return -1
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
