"""The memory soak's moving parts: the open-loop driver (in the benchmark's process, on the shard
commit path), the memory sampler and the archiver (each a process of its own, so neither takes
the driver's event loop or its share of the GIL while it scans Redis or writes PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import redis

from benchmarks.capacity_parts import archive_rounds, by_kind, orders
from engine.shard_core import ShardCore


async def open_loop(
    core: ShardCore, rate: float, seconds: float, skus: list[str], rng: random.Random, tick: float
) -> dict[str, Any]:
    """Offer ``rate`` single-line orders/s for ``seconds``: every ``tick`` the orders due go as one
    batch whether or not earlier ones were answered (a gateway's batcher under steady webhooks).
    Returns (wall time, orders) of every send and of every answer, and each batch's latency from
    its scheduled time to durable."""
    sent_rows: list[tuple[float, int]] = []
    done_rows: list[tuple[float, int]] = []
    lat: list[float] = []
    outcomes: dict[str, int] = {}
    inflight: set[asyncio.Future[None]] = set()
    total, sent, k, start = int(rate * seconds), 0, 0, time.perf_counter()

    async def one(chunk: list[dict[str, Any]], due: float) -> None:
        result = await core.apply_batch(chunk)
        done_rows.append((time.time(), len(chunk)))
        lat.append(time.perf_counter() - due)
        for d in result.decisions:
            outcomes[d["outcome"]] = outcomes.get(d["outcome"], 0) + 1

    while sent < total:
        k += 1
        due = start + k * tick
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        upto = min(total, int(rate * k * tick))
        if upto <= sent:
            continue
        chunk = orders(upto - sent, 1, skus, rng, first=sent)
        now = time.time()
        for e in chunk:  # stamped when sent: ``orders`` dates them as if 1,000/s from its call
            e["at"] = round(now, 3)
            e["version"] = int(now * 1000)
        task = asyncio.ensure_future(one(chunk, due))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        sent_rows.append((now, len(chunk)))
        sent = upto
    await asyncio.gather(*list(inflight))
    return {"sent": sent_rows, "done": done_rows, "latency_s": lat, "outcomes": outcomes,
            "seconds": time.perf_counter() - start}  # fmt: skip


def sampler_process(url: str, interval_s: float, kinds_every: int, stop: Any, ready: Any, out: Any) -> None:
    """Every ``interval_s``: ``used_memory`` and the clients' buffers (``net`` = the difference, as
    ``benchmarks.capacity`` counts it); every ``kinds_every``-th sample also the bytes by record
    kind (``capacity_parts.by_kind``: its key classification, whatever the record layout is).
    Sets ``ready`` after three samples (the baseline before load); at ``stop`` puts the samples and
    the CPU seconds this process used (what the sampling took from a 2-core machine)."""
    r, rng, rows, k = redis.Redis.from_url(url), random.Random(18), [], 0
    due = time.time()
    while not stop.is_set():
        t = time.time()
        m: Any = r.info("memory")
        row: dict[str, Any] = {
            "t": t, "used_memory": int(m["used_memory"]), "clients": int(m["mem_clients_normal"]),
            "net": int(m["used_memory"]) - int(m["mem_clients_normal"]), "rss": int(m["used_memory_rss"]),
        }  # fmt: skip
        if k % kinds_every == 0:
            kinds = by_kind(r, rng, sample=1000)
            row["kinds"] = {kind: {"keys": v["keys"], "bytes": v["bytes"], **({"entries": v["entries"]}
                            if "entries" in v else {})} for kind, v in kinds.items()}  # fmt: skip
            row["kinds_read_s"] = round(time.time() - t, 3)
        rows.append(row)
        k += 1
        if k == 3:
            ready.set()
        due += interval_s
        stop.wait(max(0.0, due - time.time()))
    out.put((rows, round(time.process_time(), 2)))


def archiver_process(
    redis_url: str, vshards: int, pg_url: str, keep_in_redis_s: float, stop: Any, out: Any
) -> None:
    """The archiver's rounds as ``actors.archiver`` runs them (``[history]`` defaults but
    ``keep_in_redis_s``, short here so archived entries leave Redis within the soak) until ``stop``.
    Puts (rows, lost): a row per round that stored entries, (end time, entries, age of its oldest
    entry at the end), as ``capacity_parts.archiver_process`` records them."""

    out.put(asyncio.run(archive_rounds(redis_url, vshards, pg_url, keep_in_redis_s, stop)))
