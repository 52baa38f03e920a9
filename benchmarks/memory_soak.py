"""Memory soak: is Redis memory flat once the windows are full? (issue 18, Targets)

One command: ``python -m benchmarks.memory_soak [--quick] [--out DIR] [--phases history,redis_only]``
writes ``benchmarks/results/memory_soak.json`` and ``memory_soak.png`` (``memory_soak-quick.*``
with ``--quick``, about 70 s; the full run, two phases of 300 s, about 10 minutes).

Each phase stands up a private redis-server and drives the shard commit path in-process
(``engine.shard_core.ShardCore``, what the ``SkuShard`` actor runs, no Ray), as
``benchmarks.capacity`` does and with its helpers, open-loop at a constant offered rate of
single-line orders over uniform SKUs, with short windows: idempotency ``idem_s`` (records live
``idem_s`` to ``idem_s`` + a bucket), order records ``retention_s`` (+ a bucket), order markers
``marker_s`` (+ a bucket). A sampler process reads ``used_memory`` less the clients' buffers
every ``sample_s`` and the bytes by record kind (``capacity_parts.by_kind``) every ``kinds_every`` samples.

- ``history``: ``[history]`` on: an archiver process drains the audit streams into a throwaway
  PostgreSQL database and trims what it stored once older than ``keep_s``; the streams' cap is
  ``history.max_backlog``, as with ``postgres_url`` set. 1,024 vshards (the default).
- ``redis_only``: no PostgreSQL; the audit is bounded only by ``store.audit_maxlen`` per vshard
  stream. At its minimum (1,000) times the default 1,024 vshards that cap is a million entries,
  17 minutes at 1,000 orders/s, so this phase runs 64 vshards (64,000 entries, about a minute):
  the same bound, reached within the soak.

Markers outlive the other windows by design: the marker window here is short (60 s) so that they
plateau too, and the run lasts about four marker windows. Verdict: the total (``net``) is flat when
its least-squares slope over the tail (the last two marker windows, after every window has filled)
is under ``threshold`` % of its level per minute (``benchmarks.memory_soak_stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.capacity import others
from benchmarks.capacity_parts import pg_database, private_redis, scalar, start_core, stop_core, wait_until
from benchmarks.common import RESULTS, write_result
from benchmarks.memory_soak_load import archiver_process, open_loop, sampler_process
from benchmarks.memory_soak_report import summarize
from engine.config import HistoryConfig
from engine.store import OrderWindows


@dataclass(frozen=True)
class Settings:
    rate: float = 1000.0
    """Offered single-line orders per second (open loop)."""
    skus: int = 10_000
    idem_s: int = 20
    retention_s: int = 30
    marker_s: int = 60
    keep_s: float = 10.0
    """``history.keep_in_redis_s``: archived entries stay in Redis this long (300 s by default)."""
    seconds: float = 300.0
    """Load per phase."""
    sample_s: float = 1.0
    kinds_every: int = 5
    """Bytes by kind every 5th sample: one read scans every key (about 1 s of CPU at 1,024 vshards
    under load), which every 2nd sample took half a core from the load it measures."""
    tick: float = 0.02
    vshards: int = 1024
    redis_only_vshards: int = 64
    redis_only_maxlen: int = 1000
    threshold_pct_per_min: float = 1.0
    tail_windows: float = 2.0
    """The verdict's span: the last ``tail_windows`` marker windows (less if the run is short)."""


QUICK = Settings(rate=500.0, skus=2000, idem_s=4, retention_s=6, marker_s=10, keep_s=2.0, seconds=30.0,
                 redis_only_vshards=16, tail_windows=1.0, kinds_every=2)  # fmt: skip


@contextlib.contextmanager
def archiver(url: str, vshards: int, pg: str | None, keep_s: float) -> Iterator[Any]:
    """The archiver process while the block runs (nothing without ``pg``); yields a callable that
    stops it and returns its rounds and the entries it saw trimmed unarchived."""
    if pg is None:
        yield lambda: ([], 0)
        return
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=archiver_process, args=(url, vshards, pg, keep_s, stop, out))
    proc.start()
    with psycopg.connect(pg, autocommit=True) as conn:
        schema = "SELECT to_regclass('audit_entries') IS NOT NULL"
        wait_until(lambda: bool(scalar(conn, schema)), 60, "the archiver's schema")

    def finish() -> tuple[list[tuple[float, int, float]], int]:
        stop.set()
        got: tuple[list[tuple[float, int, float]], int] = out.get(timeout=120)
        proc.join(30)
        return got

    try:
        yield finish
    finally:
        if proc.is_alive():
            stop.set()
            proc.join(30)


async def phase(name: str, s: Settings, history: bool, rng: random.Random) -> dict[str, Any]:
    skus = [f"SKU-{i:06d}" for i in range(s.skus)]
    vshards = s.vshards if history else s.redis_only_vshards
    maxlen = HistoryConfig().max_backlog if history else s.redis_only_maxlen
    ctx = mp.get_context("spawn")
    load_before = [round(x, 2) for x in os.getloadavg()]
    pg_or_none = pg_database() if history else contextlib.nullcontext()
    with private_redis() as url, pg_or_none as pg:
        windows = OrderWindows(retention_s=s.retention_s, marker_s=s.marker_s)
        core = await start_core(url, skus, vshards, s.idem_s, maxlen, windows)
        with archiver(url, vshards, pg, s.keep_s) as finish:
            stop, ready, out = ctx.Event(), ctx.Event(), ctx.Queue()
            sampler = ctx.Process(
                target=sampler_process, args=(url, s.sample_s, s.kinds_every, stop, ready, out)
            )
            sampler.start()
            wait_until(ready.is_set, 60, "the sampler's first samples")
            t0 = time.time()
            load = await open_loop(core, s.rate, s.seconds, skus, rng, s.tick)
            t_end = time.time()
            stop.set()
            samples, sampler_cpu_s = out.get(timeout=120)
            sampler.join(30)
            rounds, lost = finish()
        await stop_core(core)
    print(f"{name}: {load['seconds']:.0f} s of load, {len(samples)} samples, {len(rounds)} archiver rounds",
          flush=True)  # fmt: skip
    result = summarize(s, history, vshards, maxlen, t0, t_end, load, samples, rounds, lost)
    result["load_average_before_after"] = [load_before, [round(x, 2) for x in os.getloadavg()]]
    result["sampler_cpu_s"] = sampler_cpu_s
    return result


NOTES = (
    "Path: engine.shard_core.ShardCore in this process (one shard owning every vshard, commit.lua and "
    "fetch.lua as the SkuShard actor runs them, no Ray, no gateway) on a private redis-server "
    "(persistence off), its SKUs seeded straight into the stock hashes (stock never runs out). Open loop: "
    "every tick the orders due at the offered rate go as one batch, answered or not. Memory: used_memory "
    "less mem_clients_normal ('net', as benchmarks.capacity counts it), every sample_s; bytes by kind: "
    "MEMORY USAGE of the keys as capacity_parts.by_kind classifies them (1,000 sampled idempotency and "
    "order keys scaled to their count; without the key table and expiry table), every kinds_every samples. "
    "Verdict: least-squares slope of net over the tail as % of its mean level per minute, flat below the "
    "threshold. Fill: configured = the longest life of a record of the kind (window plus its time bucket); "
    "observed = first sample at 95% of the kind's tail level. Bytes per order in steady state = the kind's "
    "tail level / (rate x its mean life): idempotency idem_s + half a bucket, order records retention_s "
    "+ half a bucket, "
    "markers marker_s + half a bucket, audit (history) keep_s + half an archiver pause; with redis_only the "
    "audit is its cap's bytes / entries held. With history the audit's bytes are mostly stream nodes, not "
    "entries: XTRIM MINID inside a node only marks entries deleted, and the node (up to "
    "stream-node-max-bytes, 4,096) stays until every entry in it is gone, so each vshard stream holds about "
    "one to two nodes whatever keep_s is; at about 1 entry/s per stream that floor is most of the audit. "
    "verdict_sliding: the same test over every span of the verdict's length ending 10 s apart after the "
    "windows are full (how much the verdict depends on where its span falls). Archiver lag per round: age "
    "of its oldest entry when its commit and trim returned."
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short windows and 30 s phases, about 90 s in all")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--phases", default="history,redis_only", help="comma-separated: history, redis_only")
    p.add_argument("--rate", type=float, help="offered orders/s (default 1,000; --quick 500)")
    p.add_argument("--seconds", type=float, help="load per phase (default 270; --quick 30)")
    a = p.parse_args()
    s = QUICK if a.quick else Settings()
    s = replace(s, **{k: v for k, v in (("rate", a.rate), ("seconds", a.seconds)) if v is not None})
    load_before, busy_before, t0 = [round(x, 2) for x in os.getloadavg()], others(), time.time()
    rng = random.Random(18)
    phases = {}
    for name in a.phases.split(","):
        phases[name] = asyncio.run(phase(name, s, name == "history", rng))
        print(
            name, {k: phases[name]["verdict"][k] for k in ("flat", "slope_pct_of_level_per_min")}, flush=True
        )
    name = "memory_soak-quick" if a.quick else "memory_soak"
    from benchmarks.memory_soak_chart import chart

    png = chart(phases, a.out / f"{name}.png")
    doc = {"quick": a.quick, "settings": asdict(s), "notes": NOTES, "seconds": round(time.time() - t0, 1),
           "load_average_before": load_before,
           "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "other_processes_before_after": [busy_before, others()], "chart": png,
           "phases": phases}  # fmt: skip
    path = write_result(name, doc, a.out)
    print(f"wrote {path}" + (f" and {png}" if png else " (no chart: matplotlib missing)"))


if __name__ == "__main__":
    main()
