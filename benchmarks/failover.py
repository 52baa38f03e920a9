"""Failover benchmark: signed webhooks at a fixed rate into ``skusync serve`` while a shard actor dies.

What a marketplace sees when a shard process is killed under load: for each kill, the answers to
requests due before it, the longest any request then waited, how many answers were not 200, and
how long answers stayed slow (the disruption: from the kill to the end of the last 100 ms of send
time whose slowest answer exceeded ``slow_ms``). The shard is killed with ``ray.kill(...,
no_restart=False)``, as a crash would end it; Ray restarts it, the restarted shard reloads its SKUs
from Redis, and the gateway's batches caught by the kill are re-sent (direct link down -> a Ray
call that waits out the restart). Afterwards master must have taken exactly one unit per 200 and
at most one more per other answer (a 503 may follow a batch that was in fact committed).

Open loop like ``benchmarks.gateway`` (latency from each request's scheduled send time), one
benchmark at a time on this machine. No target is set for it in the issues; the figures document
what the README's "Known limits" said was inferred.

Usage: python -m benchmarks.failover [--smoke] [--redis URL] [--out DIR] [--kills N] [--rate R]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_shards import bench_shards
from benchmarks.common import RESULTS, write_result
from benchmarks.gateway_targets import config_toml, start_serve
from benchmarks.loadgen import phase


def settings_for(a: argparse.Namespace) -> dict[str, Any]:
    """Rates, phase lengths and when to kill (tiny with ``--smoke``)."""
    # Enough connections for every request of a 1.5 s stall at the rate: with fewer, requests to
    # the healthy shard queue behind the stalled ones in the load generator's own pool.
    conns = 32 if a.smoke else max(128, int(a.rate * 1.5))
    base = {"warm_rate": 200.0, "warm_s": 1.0, "open_conns": conns, "closed_conns": 64,
            "closed_cap_per_s": 1000, "timeline_s": 0.1, "slow_ms": 100.0}  # fmt: skip
    if a.smoke:
        return base | {"rate": 100.0, "seconds": 4.0, "kill_after_s": 2.0, "kills": 1, "skus": 50}
    return base | {"rate": a.rate, "seconds": 12.0, "kill_after_s": 5.0, "kills": a.kills, "skus": 1000}


def kill_during_phase(port: int, tag: str, handle: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """Run one open-loop phase and kill ``handle``'s actor ``kill_after_s`` into it; analyse."""
    import ray

    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.time())
        ray.kill(handle, no_restart=False)

    timer = threading.Timer(settings["kill_after_s"], kill)
    timer.start()
    try:
        result = phase(port, tag, settings["rate"], settings["seconds"], settings)
    finally:
        timer.cancel()
    if not killed_at:
        raise RuntimeError("the phase ended before the kill")
    kill_s = killed_at[0] - result.pop("t0_unix")
    return analyse(result, kill_s, settings["slow_ms"], settings["timeline_s"])


def analyse(result: dict[str, Any], kill_s: float, slow_ms: float, bucket_s: float) -> dict[str, Any]:
    """Split one phase's timeline (buckets ``bucket_s`` wide) at the kill, ``kill_s`` seconds after
    the phase's first send."""
    timeline: list[dict[str, Any]] = result["timeline"]
    before = [b for b in timeline if b["t"] + bucket_s <= kill_s]
    after = [b for b in timeline if b["t"] + bucket_s > kill_s]
    slow = [b for b in after if b["max_ms"] > slow_ms]
    disruption = round(slow[-1]["t"] + bucket_s - kill_s, 2) if slow else 0.0
    return {
        "kill_at_s": round(kill_s, 3),
        "answered": result["answered"],
        "ok": result["ok"],
        "statuses": result["statuses"],
        "p99_ms_before_kill": max((b["p99_ms"] for b in before), default=0.0),
        "max_ms_after_kill": max((b["max_ms"] for b in after), default=0.0),
        "disruption_s": disruption,
        # the requests due while the disruption lasted, and how many of them were slow: about
        # half (the killed shard's) if the healthy shard's requests are unaffected
        "requests_during_disruption": sum(b["sent"] for b in after if b["t"] < kill_s + disruption),
        "slow_during_disruption": sum(b["slow"] for b in after if b["t"] < kill_s + disruption),
        "not_200": sum(b["not_200"] for b in timeline),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "timeline": timeline,
    }


def wait_until_answering(handle: Any, timeout_s: float = 60.0) -> float:
    """Seconds until a restarted shard answers a call again (asked every 50 ms)."""
    import ray

    t0 = time.monotonic()
    while True:
        try:
            ray.get(handle.ping.remote(), timeout=1.0)
            return time.monotonic() - t0
        except Exception:
            if time.monotonic() - t0 > timeout_s:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--kills", type=int, default=3, help="phases, each killing one shard (alternating)")
    p.add_argument("--rate", type=float, default=1000.0, help="webhooks offered per second")
    a = p.parse_args(argv)
    settings = settings_for(a)

    import ray

    kills: list[dict[str, Any]] = []
    with bench_shards(a.redis, "fo", settings["skus"]) as bench, tempfile.TemporaryDirectory() as tmp:
        handles = bench.client.handles
        run = bench.cfg["store"]["key_prefix"][-6:]
        path = Path(tmp) / "skusync.toml"
        path.write_text(config_toml(bench.cfg["store"]["key_prefix"], a.redis, bench.token))
        served, port = start_serve(path, ray.get_runtime_context().gcs_address)
        try:
            warm = phase(port, f"{run}-warm", settings["warm_rate"], settings["warm_s"], settings)
            for k in range(settings["kills"]):
                shard = k % len(handles)
                outcome = kill_during_phase(port, f"{run}-kill{k}", handles[shard], settings)
                outcome["shard"] = shard
                kills.append(outcome)
                wait_until_answering(handles[shard])
                time.sleep(1.0)
        finally:
            served.terminate()
            served.wait(60)
        consumed = bench.units_taken()
    ok = warm["ok"] + sum(k["ok"] for k in kills)
    not_ok = warm["answered"] - warm["ok"] + sum(k["answered"] - k["ok"] for k in kills)
    payload = {
        "smoke": a.smoke,
        "settings": settings,
        "summary": [{k: v for k, v in kill.items() if k != "timeline"} for kill in kills],
        "checks": {
            "answers_200": ok,
            "answers_other": not_ok,
            "units_taken": consumed,
            # one unit per 200, none twice; an answer other than 200 may or may not have committed
            "conserved": ok <= consumed <= ok + not_ok,
        },
        "kills": kills,
        "notes": __doc__,
    }
    out = write_result("failover-smoke" if a.smoke else "failover", payload, a.out)
    print(f"wrote {out}: {payload['summary']} {payload['checks']}", flush=True)
    return out


if __name__ == "__main__":
    main()
