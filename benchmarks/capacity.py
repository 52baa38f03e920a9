"""Capacity benchmark: Redis and PostgreSQL bytes per sale, and the archiver against the hot path.

Measures today's code in one run on one machine (issue 18, item 3):

1. Redis bytes per order, single-line and three-line, over one hot SKU (three for three-line
   orders) and 10,000 uniform SKUs: each scenario on a private redis-server, driven through the
   shard commit path in-process (``engine.shard_core.ShardCore``: the ledger and store the
   ``SkuShard`` actor runs, without Ray), with a short idempotency window. ``used_memory`` is read
   with the windows full, again once every idempotency record has expired (waited on: no key with
   a TTL left), and again once the archiver has stored the audit entries and trimmed them (keep 0).
   The differences are each record kind's true cost; ``MEMORY USAGE`` of the keys splits it too.
2. PostgreSQL bytes per archived entry: the archiver's drain over that audit, in a throwaway database.
3. The archiver's drain rate over that backlog next to the commit path's decision rate from 1;
   then both at once (the archiver in a process of its own): the hot path open-loop at a fixed
   rate, then closed-loop at its maximum, and the archiver's lag and catch-up time.
4. Projections for sustained order rates with the default windows.

Usage: python -m benchmarks.capacity [--quick] [--out DIR]   (``--smoke`` is ``--quick``)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

from benchmarks.capacity_parts import (
    KEYS,
    archiver_process,
    by_kind,
    drain_all,
    drive,
    orders,
    paced,
    pg_database,
    pg_sizes,
    prime,
    private_redis,
    quantiles,
    scalar,
    start_core,
    stop_core,
    used_memory,
    wait_until,
)
from benchmarks.common import RESULTS, write_result
from engine.config import EngineConfig, HistoryConfig, StoreConfig
from engine.events import OrderPlaced
from engine.history.streams import parse_id
from engine.routing import ShardMap
from engine.store import OrderWindows
from engine.store.idem_layout import IDEM_BUCKETS
from engine.store.order_records import ORDER_BUCKETS
from engine.store.order_windows import MARKER_BUCKETS

VSHARDS = EngineConfig().vshards
MAXLEN = StoreConfig().audit_maxlen
MARKER_S = 3600
"""Markers outlive the run (the default window is 400 days): what stays after the short windows."""
BATCH, DEPTH = 2000, 4
"""As ``benchmarks.engine``: 2,000-order batches, four in flight (the commit path saturated)."""


async def scenario(
    name: str, lines: int, skus: list[str], n: int, ttl_s: int, rng: random.Random, steady: bool = False
) -> dict[str, Any]:
    """One scenario; ``steady``: the bucket registries primed as if the buckets before had taken
    this run's records (``capacity_parts.prime``), so records sit in listpack-sized hashes as at a
    constant rate, instead of the run's first bucket's 64 hashes (hash tables at 100,000 records)."""
    events = orders(n, lines, skus, rng)
    first = OrderPlaced.model_validate(events[0]).model_dump(mode="json")
    assert first == events[0], "the benchmark's orders drifted from the wire form"
    with private_redis() as url, pg_database() as pg:
        r = redis.Redis.from_url(url)
        # order records get the idempotency window's length here, so both leave within the run
        windows = OrderWindows(retention_s=ttl_s, marker_s=MARKER_S)
        if steady:
            prime(r, KEYS.idem_registry(), ttl_s, IDEM_BUCKETS, n)
            prime(r, KEYS.order_registry(), ttl_s, ORDER_BUCKETS, n * lines)
            prime(r, KEYS.seen_registry(), MARKER_S, MARKER_BUCKETS, n * lines)
        core = await start_core(url, skus, VSHARDS, ttl_s, MAXLEN, windows)
        base, t_first = used_memory(r), time.monotonic()
        rate = await drive(core, events, BATCH, DEPTH)
        full, kinds_full, keys_full = used_memory(r), by_kind(r, rng), r.dbsize()
        inside = time.monotonic() - t_first < ttl_s  # measured before any record's window ended
        drained = await drain_all(url, VSHARDS, pg, HistoryConfig().keep_in_redis_s)
        pg_bytes = pg_sizes(pg)
        markers = len(list(r.scan_iter(match="*:seen:*", count=10_000)))  # buckets, with a TTL too
        expired_after_s = wait_until(lambda: "db0" not in r.info("keyspace") or
                                     r.info("keyspace")["db0"].get("expires", 0) <= markers,
                                     ttl_s + 300, "every idempotency and order record to expire")  # fmt: skip
        no_idem = used_memory(r)
        trim = await drain_all(url, VSHARDS, pg, 0)
        after, kinds_after, keys_after = used_memory(r), by_kind(r, rng), r.dbsize()
        await stop_core(core)
    entries = kinds_full["audit"]["entries"]
    per = lambda b: round(b / n, 1)  # noqa: E731
    tables = pg_bytes["bytes"]
    pg_total = sum(tables.values())
    b, f, x, a = (m["net"] for m in (base, full, no_idem, after))
    return {
        "name": name, "orders": n, "lines_per_order": lines, "skus": len(skus), "steady_buckets": steady,
        "idempotency_ttl_s": ttl_s, "decisions": rate,
        "redis": {
            "used_memory": {"base": base, "full": full, "idem_expired": no_idem, "after_windows": after},
            "keys_full": keys_full, "keys_after_windows": keys_after,
            "measured_inside_window": inside, "idem_expired_waited_s": expired_after_s,
            "bytes_per_order_full": per(f - b), "bytes_per_line_full": round((f - b) / (n * lines), 1),
            "bytes_per_order_full_raw_used_memory": per(full["used_memory"] - base["used_memory"]),
            "bytes_per_order_after_windows": per(a - b),
            "window_cost_per_order": {
                "idempotency_and_order_records": per(f - x), "audit": per(x - a),
                "markers_and_stock": per(a - b),
            },
            "memory_usage_per_order": {k: per(v["bytes"]) for k, v in kinds_full.items()},
            "stock_hash_bytes_per_sku": round(kinds_full["stock"]["bytes"] / len(skus), 1),
            "by_kind_full": kinds_full, "by_kind_after_windows": kinds_after,
        },
        "postgres": {
            **pg_bytes, "bytes_per_entry": round(pg_total / max(1, pg_bytes["audit_entries"]), 1),
            "bytes_per_order": per(pg_total),
            "orders_table_bytes_per_order": round(tables.get("orders", 0) / max(1, pg_bytes["orders"])),
            "audit_table_bytes_per_entry": round(tables.get("audit_entries", 0) / max(1, entries)),
        },
        "archiver_alone": drained, "trim_after_window": trim,
        "ratio_archiver_entries_vs_decided_lines": round(drained["entries_per_s"] / rate["lines_per_s"], 2),
    }  # fmt: skip


async def concurrent(
    open_rate: float, open_s: float, max_s: float, max_hint: float, rng: random.Random
) -> dict[str, Any]:
    """One hot SKU: the archiver (own process) runs while the commit path takes ``open_rate``
    orders/s open-loop for ``open_s``, then as many as it can for ``max_s`` (``max_hint``: the rate
    it reached alone, to size the orders made up front); then until the archiver has stored all."""
    skus = ["HOT-TEE-M"]
    n_open, n_max = int(open_rate * open_s), int(max_hint * max_s * 1.3) + BATCH
    events = orders(n_open + n_max, 1, skus, rng)
    ctx = mp.get_context("spawn")
    with private_redis() as url, pg_database() as pg:
        core = await start_core(url, skus, VSHARDS, EngineConfig().idempotency_ttl_s, MAXLEN)
        stop, out = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=archiver_process, args=(url, VSHARDS, pg, stop, out))
        proc.start()
        with psycopg.connect(pg, autocommit=True) as conn:
            stored = lambda: int(scalar(conn, "SELECT count(*) FROM audit_entries"))  # noqa: E731
            schema = "SELECT to_regclass('audit_entries') IS NOT NULL"
            wait_until(lambda: bool(scalar(conn, schema)), 60, "the archiver's schema")
            t_a = time.time()
            open_loop = await paced(core, events[:n_open], open_rate)
            t_b = time.time()
            closed = await drive(core, events[n_open:], BATCH, DEPTH, until=time.perf_counter() + max_s)
            t_c = time.time()
            produced = n_open + closed["lines"]
            backlog_at_stop = produced - stored()
            # Caught up = the cursor reached the stream's last id (not every entry produced: one
            # hot SKU's stream is capped at store.audit_maxlen, and XADD trims what is beyond it).
            vs = ShardMap(1, VSHARDS).vshard(skus[0])
            newest: Any = redis.Redis.from_url(url).xrevrange(KEYS.audit(vs), count=1)
            last = parse_id(newest[0][0])
            cursor = f"SELECT array[ms, seq] FROM archive_cursors WHERE vshard = {vs}"
            catch_up = wait_until(lambda: tuple(scalar(conn, cursor) or (0, 0)) >= last, 600, "the archiver")
            lost = produced - stored()
        stop.set()
        rounds: list[tuple[float, int, float]] = out.get(timeout=60)
        proc.join(30)
        await stop_core(core)

    def window(lo: float, hi: float) -> dict[str, Any]:
        rs = [x for x in rounds if lo <= x[0] < hi]
        return {"rounds": len(rs), "entries": sum(x[1] for x in rs), "lag_s": quantiles([x[2] for x in rs])}

    return {
        "sku": skus[0], "open_loop": {**open_loop, "archiver": window(t_a, t_b)},
        "closed_loop_max": {**closed, "archiver": window(t_b, t_c)},
        "after_hot_path_stopped": {"backlog_entries": backlog_at_stop, "caught_up_in_s": catch_up,
                                   "entries_trimmed_before_archived": lost,
                                   "archiver": window(t_c, float("inf"))},
        "catch_up_vs_busy_time": round(catch_up / max(1e-9, closed["seconds"]), 2),
        "lag_definition": "per archiver round: age of its oldest entry (Redis stream id time) when the "
        "round's PostgreSQL commit and trim returned; an upper bound for every entry of that round",
    }  # fmt: skip


def projection(s: dict[str, Any], dense: dict[str, Any], rate: float) -> dict[str, Any]:
    """Redis bytes at ``rate`` orders/s with the default windows, from ``s``'s measured costs; an
    audit entry at ``dense``'s cost (a hot SKU's full streams: what an entry costs once streams
    hold thousands, as they do at these rates, rather than ~100 per stream as in ``s``)."""
    usage, lines = s["redis"]["memory_usage_per_order"], s["lines_per_order"]
    engine = EngineConfig()
    per_entry = dense["redis"]["window_cost_per_order"]["audit"] / lines
    # MEMORY USAGE split of the idempotency and order records' joint used_memory cost
    joint = s["redis"]["window_cost_per_order"]["idempotency_and_order_records"]
    share = usage["idempotency"] / max(1.0, usage["idempotency"] + usage["order"])
    # a record lives its window plus, on average, half a bucket (engine.store.buckets)
    idem = rate * engine.idempotency_ttl_s * (1 + 0.5 / IDEM_BUCKETS) * joint * share
    orders = rate * engine.order_retention_hours * 3600 * (1 + 0.5 / ORDER_BUCKETS) * joint * (1 - share)
    markers = rate * engine.order_marker_days * 86_400 * (1 + 0.5 / MARKER_BUCKETS) * usage.get("marker", 0.0)
    audit_cap = VSHARDS * MAXLEN * per_entry
    audit_history = rate * lines * HistoryConfig().keep_in_redis_s * per_entry
    return {
        "orders_per_s": rate, "audit_bytes_per_entry": round(per_entry, 1),
        "idempotency_window_bytes": round(idem),
        "order_records_window_bytes": round(orders),
        "order_markers_window_bytes": round(markers),
        "audit_without_history_cap_bytes": round(audit_cap),
        "audit_without_history_hours_to_cap": round(VSHARDS * MAXLEN / (rate * lines) / 3600, 1),
        "audit_with_history_bytes": round(audit_history),
        "total_windows_full_without_history": round(idem + orders + markers + audit_cap),
        "total_windows_full_with_history": round(idem + orders + markers + audit_history),
    }  # fmt: skip


def others() -> dict[str, int]:
    """Processes of other work on the machine (a soak, test runs) at this moment."""
    count = lambda pat: len(subprocess.run(["pgrep", "-f", pat], capture_output=True).stdout.split())  # noqa: E731
    return {"soak": count("tests.soak.run"), "pytest": count("python -m pytest")}


async def run(quick: bool, rng: random.Random) -> dict[str, Any]:
    n = 3_000 if quick else 100_000
    ttl = 5 if quick else 60
    uniform = [f"SKU-{i:06d}" for i in range(1_000 if quick else 10_000)]
    hot = ["HOT-TEE-M", "HOT-TEE-L", "HOT-CAP-1"]
    plan = [("single_line_hot", 1, hot[:1], False), ("single_line_uniform", 1, uniform, False),
            ("three_line_hot", 3, hot, False), ("three_line_uniform", 3, uniform, False),
            ("single_line_hot_steady", 1, hot[:1], True),
            ("single_line_uniform_steady", 1, uniform, True)]  # fmt: skip
    scenarios = {}
    for name, lines, skus, steady in plan:
        scenarios[name] = await scenario(name, lines, skus, n, ttl, rng, steady)
        s, red = scenarios[name], scenarios[name]["redis"]
        print(
            f"{name}: {s['decisions']['lines_per_s']} lines/s decided, archiver "
            f"{s['archiver_alone']['entries_per_s']} entries/s; Redis B/order {red['bytes_per_order_full']} "
            f"full {red['window_cost_per_order']}; PG B/entry {s['postgres']['bytes_per_entry']}",
            flush=True,
        )
    hot_rate = scenarios["single_line_hot"]["decisions"]["orders_per_s"]
    both = await concurrent(200 if quick else 1_000, 3 if quick else 20, 3 if quick else 15, hot_rate, rng)
    print("concurrent", {k: both[k]["archiver"] for k in ("open_loop", "closed_loop_max")}, flush=True)
    return {
        "scenarios": scenarios, "concurrent": both,
        "ratios_archiver_vs_commit_path": {
            k: s["ratio_archiver_entries_vs_decided_lines"] for k, s in scenarios.items()
        } | {"hot_concurrent_catch_up_vs_busy": both["catch_up_vs_busy_time"]},
        "projections": {  # single-line from the steady buckets (a sustained rate's), three-line as run
            k: [projection(scenarios[f"{k}_uniform{tail}"], scenarios[f"{k}_hot"], r) for r in (100, 1_000)]
            for k, tail in (("single_line", "_steady"), ("three_line", ""))
        },
    }  # fmt: skip


NOTES = (
    "Path: engine.shard_core.ShardCore in this process (one shard owning all vshards, the ledger and "
    "ShardStore with commit.lua/fetch.lua the SkuShard actor runs, no Ray, no gateway), each scenario on "
    "a private redis-server (persistence off, like the Redis on 6379 here). Windows as today's code keeps "
    "them: idempotency records in time-bucketed hashes that expire whole, engine.idempotency_ttl_hours "
    "plus up to a third (configurable; short here: a 5 s window in 2 s buckets, <= 47 records a hash); order "
    "records (engine.order_codec, ~45-60 B) as fields of time-bucketed hashes of the same kind for "
    "engine.order_retention_hours plus up to a third (the idempotency window's length here); a run's first "
    "bucket has 64 hashes (hash tables at 100,000 records), the *_steady scenarios prime the registries as a "
    "constant rate would (~64 records a hash, listpack); and a marker per "
    "order and vshard in time-bucketed hashes of the same kind for engine.order_marker_days plus up to a "
    "half (3600 s here: they stay after the run's windows, measured with the stock as markers_and_stock; "
    "primed too in *_steady); audit entries (one-letter fields, v=2) "
    "XADD MAXLEN ~ "
    "store.audit_maxlen per vshard stream, and with [history] trimmed once archived and older than "
    "keep_in_redis_s (0 here after the drain, 300 s default in the projections); parked cancels expire "
    "with the idempotency TTL (none here); stock hash per SKU, forever. Projections: single-line from "
    "single_line_uniform_steady (the buckets a sustained rate keeps), three-line from the run as is. "
    "window_cost_per_order: used_memory differences (full - idempotency expired; - audit trimmed; what "
    "stays); memory_usage_per_order: MEMORY USAGE of the keys (without the expiry table and key-table "
    "buckets). Decision rates closed-loop (2,000-order batches, 4 in flight); the concurrent phase "
    "open-loop first. Ratios compare archived entries/s with decided lines/s (one audit entry a line)."
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", "--smoke", dest="quick", action="store_true", help="small counts, under a minute"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    load_before, busy_before, t0 = [round(x, 2) for x in os.getloadavg()], others(), time.time()
    doc = asyncio.run(run(a.quick, random.Random(18)))
    doc = {"quick": a.quick, "notes": NOTES, "seconds": round(time.time() - t0, 1),
           "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "other_processes_before_after": [busy_before, others()], "vshards": VSHARDS,
           "audit_maxlen": MAXLEN, "key_prefix": KEYS.prefix, **doc}  # fmt: skip
    path = write_result("capacity-quick" if a.quick else "capacity", doc, a.out)
    print(f"wrote {path}: {doc['ratios_archiver_vs_commit_path']}")


if __name__ == "__main__":
    main()
