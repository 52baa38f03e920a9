"""Caller CPU per EVALSHA: redis-py's asyncio client, a bare redis-py connection, the shard's own.

Why ``engine/store/script_conn.py`` exists: a shard makes two script calls per batch, and what
each costs the shard's process (not Redis) is the figure that matters. Each variant runs the same
echo script ``calls`` times one after another on one uvloop event loop, against the real Redis;
CPU is ``time.process_time`` of this process, so Redis's own work is not counted. Ratios are
against the shard's connection in the same run.

Usage: python -m benchmarks.redis_call [--smoke] [--redis URL] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from benchmarks.common import RESULTS, write_result
from engine.store.script_conn import ScriptConnection

ECHO = "return ARGV[1]"
Call = Callable[[], Awaitable[Any]]


async def per_call(call: Call, calls: int) -> dict[str, float]:
    """Warm up, then ``calls`` sequential calls: CPU and wall time per call, in microseconds."""
    for _ in range(max(calls // 10, 1)):
        await call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "calls": calls,
        "cpu_us_per_call": round(1e6 * cpu / calls, 1),
        "wall_us_per_call": round(1e6 * wall / calls, 1),
    }


async def run(url: str, calls: int) -> dict[str, dict[str, float]]:
    client = aioredis.Redis.from_url(url, socket_timeout=10)
    sha: str = await client.script_load(ECHO)
    bare = client.connection_pool.make_connection()
    await bare.connect()
    lean = ScriptConnection.for_client(client)
    if lean is None:
        raise SystemExit(f"{url} is not plain TCP: the shard would use redis-py's client there")

    async def through_bare() -> Any:
        await bare.send_packed_command(bare.pack_command("EVALSHA", sha, 0, "x"), check_health=False)
        return await bare.read_response()

    try:
        return {
            "redis_py_client": await per_call(lambda: client.evalsha(sha, 0, "x"), calls),
            "redis_py_connection": await per_call(through_bare, calls),
            "script_connection": await per_call(lambda: lean.evalsha(sha, 0, "x"), calls),
        }
    finally:
        lean.close()
        await bare.disconnect()
        await client.aclose()


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    calls = 200 if a.smoke else 20_000
    try:
        import uvloop

        figures = uvloop.run(run(a.redis, calls))
    except ImportError:
        figures = asyncio.run(run(a.redis, calls))
    lean = figures["script_connection"]["cpu_us_per_call"]
    ratios = {
        f"{name}_cpu_vs_script_connection": round(f["cpu_us_per_call"] / lean, 2)
        for name, f in figures.items()
    }
    payload = {"smoke": a.smoke, "results": figures, "ratios": ratios, "notes": __doc__}
    path = write_result("redis_call-smoke" if a.smoke else "redis_call", payload, a.out)
    print(f"wrote {path}: {figures} {ratios}", flush=True)
    return path


if __name__ == "__main__":
    main()
