"""Overload benchmark: open-loop signed webhooks ramping past the measured capacity of ``skusync serve``.

First a closed-loop phase (64 connections, every one sends again as soon as it is answered)
measures the capacity of a ``serve`` process over two shard actors and the real Redis. Then, one
step after another, open-loop load at multiples of that capacity (1x, 2x for 30 s, 4x by default)
from a separate process over a wide pool of keep-alive connections. Per step: accepted (200) per
second, 503s (with and without ``Retry-After``), p50/p99 latency of the accepted requests, the
gateway's resident memory (sampled) and the shards' pending plans (sampled, and the high-water
mark each shard keeps). A last step offers half the capacity while one shard's process is stopped
(SIGSTOP) for a few seconds: the case the gateway's backlog bound is for, a shard that cannot keep
up; its timeline shows the 503s start and stop. At the end: every 200 took exactly one unit and no
503 took any (units gone from the seeded SKUs equal the 200s of every phase).

Latency counts from each request's scheduled send time, as in ``benchmarks.gateway``, so waiting
for a free connection in the load generator counts too; ``server_p99_ms`` counts from the moment
the request was written, which is what the gateway controls.

Usage: python -m benchmarks.overload [--smoke] [--redis URL] [--out DIR] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_shards import bench_shards
from benchmarks.common import RESULTS, write_result
from benchmarks.gateway import backend_pids
from benchmarks.gateway_targets import config_toml, start_serve
from benchmarks.loadgen import phase
from benchmarks.open_steps import open_step, stall_timeline, step_figures
from benchmarks.proc_cpu import CpuMeter, totals
from engine.config import GatewayConfig

SAMPLE_S = 0.2
"""How often the gateway's memory and the shards' pending plans are read during a step."""


def settings_for(a: argparse.Namespace) -> dict[str, Any]:
    """Step lengths, multiples and connection counts (tiny with ``--smoke``)."""
    if a.smoke:
        return {
            "steps": [[1.0, 0.5], [2.0, 0.5]],
            "stall": {"multiple": 0.5, "seconds": 1.5, "stall_at_s": 0.3, "stall_s": 0.9},
            "capacity_s": 0.5,
            "warm_rate": 50.0,
            "warm_s": 0.2,
            "pause_s": 0.1,
            "open_conns": 16,
            "closed_conns": 8,
            "closed_cap_per_s": 3000,
            "skus": 50,
            "max_pending_events": a.max_pending_events,
        }
    return {
        "steps": [[1.0, a.seconds], [2.0, 30.0], [4.0, a.seconds]],
        "stall": {"multiple": 0.5, "seconds": 12.0, "stall_at_s": 3.0, "stall_s": 4.0},
        "capacity_s": 5.0,
        "warm_rate": 300.0,
        "warm_s": 2.0,
        "pause_s": 2.0,
        "open_conns": 900,
        "closed_conns": 64,
        "closed_cap_per_s": 25_000,
        "skus": 1000,
        "max_pending_events": a.max_pending_events,
    }


# -- what the target holds while a step runs -----------------------------------------------------
def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB, from /proc (None where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return round(kb / 1024, 1)
    except (OSError, StopIteration, ValueError):
        return None


class Sampler:
    """Reads the gateway's RSS and every shard's pending plans every ``SAMPLE_S`` in a thread."""

    def __init__(self, gateway_pid: int, shards: list[Any]) -> None:
        self.pid, self.shards = gateway_pid, shards
        self.rss: list[float] = []
        self.pending: list[int] = []
        self.peaks: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)
        self._read()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._read()

    def _read(self) -> None:
        import ray

        rss = rss_mib(self.pid)
        if rss is not None:
            self.rss.append(rss)
        try:
            stats = ray.get([h.stats.remote() for h in self.shards], timeout=SAMPLE_S * 5)
        except ray.exceptions.GetTimeoutError:  # a stalled shard (the stall step) answers later
            return
        self.pending.append(sum(int(s["pending"]) for s in stats))
        self.peaks = [int(s.get("pending_peak", -1)) for s in stats]

    def result(self) -> dict[str, Any]:
        return {
            "gateway_rss_mib_max": max(self.rss, default=None),
            "gateway_rss_mib_last": self.rss[-1] if self.rss else None,
            "shard_pending_plans_max_sampled": max(self.pending, default=0),
            "shard_pending_plans_peak_per_shard": self.peaks,
        }


def overload_toml(prefix: str, redis_url: str, token: str, max_pending_events: int) -> str:
    """``benchmarks.gateway``'s serve config with this run's backlog bound."""
    return config_toml(prefix, redis_url, token).replace(
        "[gateway]\n", f"[gateway]\nmax_pending_events = {max_pending_events}\n", 1
    )


def run(settings: dict[str, Any], bench: Any, ray_address: str, tag: str) -> dict[str, Any]:
    """Start ``serve``, measure its capacity, then every step; stop it (graceful drain)."""
    cfg = bench.cfg
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "skusync.toml"
        text = overload_toml(
            cfg["store"]["key_prefix"], cfg["store"]["redis_url"], bench.token, settings["max_pending_events"]
        )
        path.write_text(text)
        served, port = start_serve(path, ray_address)
        try:
            bench.client.handles = current_shards(cfg["store"]["key_prefix"], len(bench.client.handles))
            backend = backend_pids(bench.client.handles, cfg["store"]["redis_url"])
            warm = phase(port, f"{tag}-warm", settings["warm_rate"], settings["warm_s"], settings)
            time.sleep(settings["pause_s"])
            capacity = phase(port, f"{tag}-cap", None, settings["capacity_s"], settings)
            base = max(float(capacity["accepted_per_s"]), 1.0)
            steps = []
            for mult, seconds in settings["steps"]:
                time.sleep(settings["pause_s"])
                meter = CpuMeter({"gateway": [served.pid], **backend})
                with Sampler(served.pid, bench.client.handles) as sampler:
                    raw = open_step(port, f"{tag}-x{mult:g}", base * mult, seconds, settings)
                figures = {"multiple": mult, **step_figures(raw, base * mult, seconds), **sampler.result()}
                cpu = meter.result(len(raw["timed"]), figures["elapsed_s"])
                figures["cpu"] = cpu | {"total": totals(cpu)}
                print(f"  x{mult:g}: {figures}", flush=True)
                steps.append(figures)
            time.sleep(settings["pause_s"])
            stall = stall_step(port, f"{tag}-stall", base, settings, backend["shards"][0])
        finally:
            served.terminate()
            exit_status = served.wait(60)
    return {
        "warmup": warm,
        "capacity": capacity,
        "steps": steps,
        "stall": stall,
        "serve_exit_status": exit_status,
    }


def current_shards(prefix: str, shards: int) -> list[Any]:
    """The shard actors by name: ``serve`` replaces shards whose settings differ from its own, so
    the handles taken before it started may name actors that are gone."""
    import ray

    from actors.names import NAMESPACE, shard_name

    return [ray.get_actor(shard_name(prefix, i), namespace=NAMESPACE) for i in range(shards)]


def stall_step(port: int, tag: str, base: float, settings: dict[str, Any], shard_pid: int) -> dict[str, Any]:
    """Half the capacity while one shard's process is stopped (SIGSTOP) for ``stall_s``: the shards
    cannot keep up, so that shard's queue reaches its bound and its requests are refused 503 while
    the other shard's are answered; after SIGCONT every request is admitted again."""
    spec = settings["stall"]
    rate = base * spec["multiple"]
    stop = threading.Timer(spec["stall_at_s"], os.kill, (shard_pid, signal.SIGSTOP))
    resume = threading.Timer(spec["stall_at_s"] + spec["stall_s"], os.kill, (shard_pid, signal.SIGCONT))
    stop.start()
    resume.start()
    try:
        raw = open_step(port, tag, rate, spec["seconds"], settings)
    finally:
        stop.cancel()
        resume.cancel()
        os.kill(shard_pid, signal.SIGCONT)
    figures = {**spec, **step_figures(raw, rate, spec["seconds"]), "timeline": stall_timeline(raw, 0.5)}
    print(f"  stall: {figures}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--seconds", type=float, default=10.0, help="length of the 1x and 4x steps")
    p.add_argument(
        "--max-pending-events",
        type=int,
        default=GatewayConfig.model_fields["max_pending_events"].default,
        help="gateway.max_pending_events (per shard)",
    )
    a = p.parse_args(argv)
    settings = settings_for(a)

    import ray

    with bench_shards(a.redis, "ov", settings["skus"]) as bench:
        tag = bench.cfg["store"]["key_prefix"][-6:]
        result = run(settings, bench, ray.get_runtime_context().gcs_address, tag)
        taken = bench.units_taken()
    ok = result["warmup"]["ok"] + result["capacity"]["ok"] + result["stall"]["accepted"]
    ok += sum(s["accepted"] for s in result["steps"])
    payload = {
        "smoke": a.smoke,
        "settings": settings,
        "summary": {
            "capacity_per_s": result["capacity"]["accepted_per_s"],
            "steps": {
                f"x{s['multiple']:g}": {
                    k: s[k]
                    for k in (
                        "offered_per_s",
                        "accepted_per_s",
                        "refused_503",
                        "p50_ms",
                        "p99_ms",
                        "server_p99_ms",
                        "gateway_rss_mib_max",
                        "shard_pending_plans_max_sampled",
                        "shard_pending_plans_peak_per_shard",
                    )
                }
                for s in result["steps"]
            },
            "stall": {
                k: result["stall"][k]
                for k in (
                    "offered_per_s",
                    "accepted_per_s",
                    "refused_503",
                    "refused_503_with_retry_after",
                    "p99_ms",
                    "server_p99_ms",
                )
            },
        },
        # every 200 took one unit and no 503 took any: nothing refused was decided, nothing admitted lost
        "checks": {"answered_200": ok, "units_taken": taken, "conserved": ok == taken},
        "results": result,
        "notes": NOTES,
    }
    path = write_result("overload-smoke" if a.smoke else "overload", payload, a.out)
    print(f"wrote {path}: {payload['summary']} {payload['checks']}", flush=True)
    return path


NOTES = (
    "Open loop from a separate process (Python asyncio + uvloop, raw HTTP/1.1 over a pool of keep-alive "
    "loopback connections), each step at a multiple of the capacity measured just before (closed loop, "
    "64 connections). p50/p99 are of the 200 answers only, from the scheduled send time; server_p99_ms "
    "from the moment the request was written. Gateway RSS and shard pending plans are sampled every "
    "0.2 s; shard_pending_plans_peak_per_shard is each shard's own high-water mark since it started. "
    "All processes (load generator, serve, Ray, shards, Redis) share this machine's cores."
)


if __name__ == "__main__":
    main()
