"""Gateway benchmark: open-loop signed Shopify webhooks at fixed rates, next to a bare uvicorn app.

Four targets in one run on one machine, each served by uvicorn (httptools, uvloop when installed)
in one process: a bare Starlette app answering hello JSON (it reads the body and nothing else);
the gateway app over stub shards that answer at once (verify, parse, batch, answer: the HTTP side
alone); the gateway as ``skusync serve`` (a process holding shard actor handles, the shipped
variant); the same app run by uvicorn on a Ray actor's event loop (the alternative issue 3 asks to
measure). Every answer of the last two is durable: the shards committed it to the real Redis first.

Load: a separate process (Python asyncio on uvloop, raw HTTP/1.1 over a pool of keep-alive
connections to 127.0.0.1) sends pre-signed ``orders/create`` webhooks on a fixed schedule; each
request's latency counts from its scheduled send time, so queueing anywhere (client pool, server)
shows. Two closed-loop phases (every connection sends again as soon as it is answered), with 64 and
with 512 connections, measure each target's capacity. The load generator shares the machine's cores
with everything else, as the targets do in the same run.

Usage: python -m benchmarks.gateway [--smoke] [--redis URL] [--out DIR] [--rates 500,1000] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_shards import bench_shards
from benchmarks.common import RESULTS, write_result
from benchmarks.gateway_targets import (
    bare_app,
    config_toml,
    gateway_actor,
    start_process,
    start_serve,
    stub_gateway,
)
from benchmarks.loadgen import measure


# -- the run ------------------------------------------------------------------------------------
def settings_for(a: argparse.Namespace) -> dict[str, Any]:
    """Phase lengths, rates and connection counts (tiny with ``--smoke``)."""
    if a.smoke:
        return {
            "rates": [100.0],
            "seconds": 0.5,
            "capacity_s": 0.5,
            "warm_rate": 50.0,
            "warm_s": 0.2,
            "pause_s": 0.1,
            "open_conns": 8,
            "closed_conns": 8,
            "wide_conns": 16,
            "closed_cap_per_s": 3000,
            "skus": 50,
        }
    return {
        "rates": a.rates,
        "seconds": a.seconds,
        "capacity_s": 5.0,
        "warm_rate": 300.0,
        "warm_s": 2.0,
        "pause_s": 2.0,
        "open_conns": 128,
        "closed_conns": 64,
        "wide_conns": 512,
        "closed_cap_per_s": 25_000,
        "skus": 1000,
    }


def run_targets(
    cfg: dict[str, Any],
    run: str,
    settings: dict[str, Any],
    ray_address: str,
    with_actor: bool,
    backend: dict[str, list[int]],
) -> dict[str, Any]:
    """Measure, one after another: the bare app, the gateway app over stub shards (the HTTP side
    alone), the gateway process (``skusync serve``) and, optionally, the gateway in a Ray actor.

    ``backend`` names the pids of the shards and of Redis, whose CPU is counted for the two
    targets that use them."""
    import ray

    results: dict[str, Any] = {}
    for name, target, args in (("bare", bare_app, ()), ("gateway_stub_shards", stub_gateway, (cfg,))):
        proc, port = start_process(target, *args)
        try:
            results[name] = measure(port, name, run, settings, {"gateway": [proc.pid]})
        finally:
            proc.terminate()
            proc.join(30)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "skusync.toml"
        path.write_text(
            config_toml(cfg["store"]["key_prefix"], cfg["store"]["redis_url"], cfg["gateway"]["admin_token"])
        )
        served, port = start_serve(path, ray_address)
        try:
            pids = {"gateway": [served.pid], **backend}
            results["gateway_process"] = measure(port, "proc", run, settings, pids)
        finally:
            served.terminate()  # SIGTERM: graceful drain
            results["gateway_process"]["serve_exit_status"] = served.wait(60)
    if with_actor:
        actor, port, pid = gateway_actor(cfg)
        try:
            results["gateway_actor"] = measure(port, "actor", run, settings, {"gateway": [pid], **backend})
        finally:
            ray.get(actor.stop.remote(), timeout=60)
            ray.kill(actor)
    return results


def backend_pids(handles: list[Any], redis_url: str) -> dict[str, list[int]]:
    """The shard actors' pids and, when Redis runs on this machine, its pid (from ``INFO``)."""
    import ray
    import redis

    out = {"shards": [int(ray.get(h.stats.remote(), timeout=60)["pid"]) for h in handles]}
    client = redis.Redis.from_url(redis_url)
    try:
        host = client.connection_pool.connection_kwargs.get("host", "")
        if host in ("127.0.0.1", "localhost", "::1"):
            out["redis"] = [int(client.info("server")["process_id"])]
    finally:
        client.close()
    return out


def checks(results: dict[str, Any], consumed: int) -> dict[str, Any]:
    """Every 200 from a gateway took exactly one unit: answered means durably decided."""
    ok = sum(
        r["ok"]
        for name, t in results.items()
        if name not in ("bare", "gateway_stub_shards")
        for r in [t["warmup"], *t["rates"], t["capacity"], t["capacity_wide"]]
    )
    return {"gateway_200_answers": ok, "units_taken": consumed, "conserved": ok == consumed}


def table(results: dict[str, Any]) -> dict[str, Any]:
    """The figures to quote: per target, capacity and each rate's accepted/s and p50/p99/max, with
    the CPU (cores, µs per request) of each group of processes in that phase."""
    keys = ("accepted_per_s", "p50_ms", "p99_ms", "max_ms", "cpu")
    return {
        name: {
            "capacity_per_s": t["capacity"]["accepted_per_s"],
            "capacity_p99_ms": t["capacity"]["p99_ms"],
            "capacity_cpu": t["capacity"]["cpu"],
            "capacity_wide_per_s": t["capacity_wide"]["accepted_per_s"],
            "capacity_wide_p99_ms": t["capacity_wide"]["p99_ms"],
            "rates": {f"{r['offered_per_s']:g}": {k: r[k] for k in keys} for r in t["rates"]},
        }
        for name, t in results.items()
    }


def targets(results: dict[str, Any], ratio: dict[str, Any]) -> dict[str, Any]:
    """Issue 3's targets for one gateway process, next to what this run measured."""
    at_2000 = [r["p99_ms"] for r in results["gateway_process"]["rates"] if r["offered_per_s"] == 2000]
    return {
        "capacity_vs_bare": {"target_min": 0.5, "measured": ratio["gateway_process_vs_bare_capacity"]},
        "capacity_vs_bare_512_conns": {
            "target_min": 0.5,
            "measured": ratio["gateway_process_vs_bare_capacity_wide"],
        },
        "capacity_best_vs_bare_best": {
            "target_min": 0.5,
            "measured": ratio["gateway_process_best_vs_bare_best"],
        },
        "p99_ms_at_2000_per_s": {"target_max": 50, "measured": at_2000[0] if at_2000 else None},
    }


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Capacity of each target over the bare app's, and of the actor variant over the process."""
    cap = {name: t["capacity"]["accepted_per_s"] for name, t in results.items()}
    out = {f"{name}_vs_bare_capacity": round(v / cap["bare"], 2) for name, v in cap.items() if name != "bare"}
    if "gateway_actor" in cap:
        out["actor_vs_process_capacity"] = round(cap["gateway_actor"] / cap["gateway_process"], 2)
    wide = {name: t["capacity_wide"]["accepted_per_s"] for name, t in results.items()}
    out |= {
        f"{name}_vs_bare_capacity_wide": round(v / wide["bare"], 2)
        for name, v in wide.items()
        if name != "bare"
    }
    # Each at the connection count that suits it best (the bare app loses capacity at 512).
    best = {name: max(cap[name], wide[name]) for name in cap}
    out |= {
        f"{name}_best_vs_bare_best": round(v / best["bare"], 2) for name, v in best.items() if name != "bare"
    }
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[500.0, 1000.0, 2000.0, 4000.0]
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of each fixed-rate phase")
    p.add_argument("--no-actor", action="store_true", help="skip the in-actor variant")
    a = p.parse_args(argv)
    settings = settings_for(a)

    import ray

    with bench_shards(a.redis, "gw", settings["skus"]) as bench:
        backend = backend_pids(bench.client.handles, a.redis)
        run = bench.cfg["store"]["key_prefix"][-6:]
        address = ray.get_runtime_context().gcs_address
        results = run_targets(bench.cfg, run, settings, address, not a.no_actor, backend)
        consumed = bench.units_taken()
    ratio = ratios(results)
    payload = {
        "smoke": a.smoke,
        "settings": settings,
        "summary": table(results),
        "ratios": ratio,
        "targets": targets(results, ratio),
        "checks": checks(results, consumed),
        "results": results,
        "notes": NOTES,
    }
    path = write_result("gateway-smoke" if a.smoke else "gateway", payload, a.out)
    print(f"wrote {path}: {ratio} {payload['targets']} {payload['checks']}", flush=True)
    return path


NOTES = (
    "Open loop: requests leave on a fixed schedule from a separate process (Python asyncio + uvloop, raw "
    "HTTP/1.1 over a pool of keep-alive loopback connections); latency counts from each request's scheduled "
    "send time, so client-side queueing (all connections busy) shows too. send_lag_p99_ms is how late the "
    "generator itself was. Capacity: closed loop, every connection sends again as soon as it is answered "
    "(64 connections; capacity_wide: 512). "
    "Gateway answers are durable (decided by the shard actors and committed to Redis before the answer). "
    "The in-actor variant runs the same app under uvicorn on the Ray actor's own asyncio loop (no uvloop). "
    "All processes (load generator, targets, Ray, shards, Redis) share this machine's cores."
)


if __name__ == "__main__":
    main()
