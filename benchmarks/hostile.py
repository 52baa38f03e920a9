"""Hostile-connection benchmark: a normal client's latency while others hold, trickle or flood connections.

``skusync serve`` (the shipped process, real shards and Redis) with ``gateway.max_connections``
set to ``cap``. A normal client sends, one after another, each on a new connection as a
marketplace does, ``GET /healthz`` and a signed Shopify ``orders/create``; its p50/p99 are measured
with no hostile traffic, then with each of (in a separate process, asyncio, all to 127.0.0.1,
bounded in count and time; each hostile connection reopened 0.1 s after the gateway closes it):

- idle: ``hostile`` connections (more than ``cap``) that send nothing;
- slow_header: ``hostile`` connections that send a request's head one short line every 0.5 s;
- huge_header: ``huge_conns`` connections streaming one endless header (64 KiB writes).

The figures are ratios to the quiet phase (p99 with / p99 without) and what the gateway did to
the hostile connections (answers 408, 431, 503 seen by the sender), its RSS and descriptors.

Usage: python -m benchmarks.hostile [--smoke] [--redis URL] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, write_result
from benchmarks.loadgen import CHANNEL, SECRET, signed_requests

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
KINDS = ("idle", "slow_header", "huge_header")
RECONNECT_S = 0.1
"""A hostile sender reconnects this long after the gateway closed it: an attacker, not a busy loop."""


# -- hostile senders (a process of their own) ---------------------------------------------------
def _status(data: bytes) -> str:
    """The status answered, or "closed": the connection ended (or was reset) before an answer was read."""
    return data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else ("closed" if not data else "other")


async def _one(kind: str, port: int, stats: dict[str, int], budget: dict[str, int]) -> None:
    """One hostile connection, reopened whenever the gateway closes it."""
    while budget["connects"] > 0:
        budget["connects"] -= 1
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_errors"] = stats.get("connect_errors", 0) + 1
            await asyncio.sleep(0.1)
            continue
        stats["opened"] = stats.get("opened", 0) + 1
        data = b""
        try:
            if kind == "idle":
                data = await reader.read(65536)
            elif kind == "slow_header":
                writer.write(b"POST /webhooks/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while not data and not reader.at_eof():
                    writer.write(b"X-Slow: 1\r\n")
                    with contextlib.suppress(TimeoutError):
                        data = await asyncio.wait_for(reader.read(65536), 0.5)
            else:
                writer.write(b"POST /webhooks/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
                answer = asyncio.ensure_future(reader.read(65536))
                chunk = b"a" * 65536
                try:
                    while budget["bytes"] > 0 and not answer.done():
                        writer.write(chunk)
                        budget["bytes"] -= len(chunk)
                        stats["bytes_sent"] = stats.get("bytes_sent", 0) + len(chunk)
                        await writer.drain()
                finally:
                    data = await asyncio.wait_for(answer, 5)
        except (ConnectionError, OSError):
            pass
        key = f"answered_{_status(data)}"
        stats[key] = stats.get(key, 0) + 1
        writer.close()
        await asyncio.sleep(RECONNECT_S)


def hostile_main(
    kind: str, port: int, conns: int, limits: dict[str, int], ready: Any, stop: Any, out: Any
) -> None:
    async def run() -> dict[str, int]:
        stats: dict[str, int] = {}
        budget = dict(limits)
        tasks = [asyncio.create_task(_one(kind, port, stats, budget)) for _ in range(conns)]
        while stats.get("opened", 0) < conns and not stop.is_set():
            await asyncio.sleep(0.01)
        ready.set()
        while not stop.is_set() and not all(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return stats

    out.put(asyncio.run(run()))


# -- the normal client ---------------------------------------------------------------------------
def exchange(port: int, request: bytes, timeout_s: float = 30.0) -> tuple[float, str]:
    """One request on a new connection; (seconds to the whole answer, status or error)."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as exc:
        return time.perf_counter() - started, type(exc).__name__
    return time.perf_counter() - started, _status(data)


def normal_client(port: int, n: int, tag: str) -> dict[str, Any]:
    hooks = [
        r.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n", 1)
        for r in signed_requests(tag, n, 100, int(time.time() * 1000) % 10**9 * 1000)
    ]
    out: dict[str, Any] = {}
    for name, requests in (("healthz", [HEALTHZ] * n), ("webhook", hooks)):
        lat: list[float] = []
        statuses: dict[str, int] = {}
        for req in requests:
            seconds, status = exchange(port, req)
            statuses[status] = statuses.get(status, 0) + 1
            if status == "200":
                lat.append(seconds * 1000)
        out[name] = {"answered_200": len(lat), "statuses": statuses, **percentiles(lat)}
    return out


def percentiles(ms: list[float]) -> dict[str, float | None]:
    if len(ms) < 2:
        return {"p50_ms": ms[0] if ms else None, "p99_ms": ms[0] if ms else None}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "max_ms": round(max(ms), 2)}


def proc_figures(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as f:
        rss = int(next(line for line in f if line.startswith("VmRSS:")).split()[1])
    return {"rss_kib": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


# -- the run -------------------------------------------------------------------------------------
def settings_for(smoke: bool) -> dict[str, Any]:
    if smoke:
        return {
            "cap": 10,
            "hostile": 15,
            "requests": 20,
            "huge_conns": 2,
            "connects_per_conn": 50,
            "huge_bytes": 64 << 20,
        }
    return {
        "cap": 1000,
        "hostile": 1100,
        "requests": 400,
        "huge_conns": 8,
        "connects_per_conn": 500,
        "huge_bytes": 4 << 30,
    }


def config_toml(prefix: str, redis_url: str, token: str, cap: int) -> str:
    return (
        f'[store]\nredis_url = "{redis_url}"\nkey_prefix = "{prefix}"\n'
        f'[gateway]\nhost = "127.0.0.1"\nport = 0\nadmin_token = "{token}"\nmax_connections = {cap}\n'
        f'[engine]\nshards = 2\n[[channels]]\nid = "{CHANNEL}"\nkind = "shopify"\n'
        f'webhook_secret = "{SECRET}"\n'
    )


def phase(kind: str | None, port: int, pid: int, s: dict[str, Any], tag: str) -> dict[str, Any]:
    if kind is None:
        return {"client": normal_client(port, s["requests"], tag), "server": proc_figures(pid)}
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    conns = s["huge_conns"] if kind == "huge_header" else s["hostile"]
    budget = {"connects": conns * s["connects_per_conn"], "bytes": s["huge_bytes"]}
    proc = ctx.Process(target=hostile_main, args=(kind, port, conns, budget, ready, stop, out), daemon=True)
    proc.start()
    try:
        ready.wait(60)
        client = normal_client(port, s["requests"], tag)
        server = proc_figures(pid)
    finally:
        stop.set()
        hostile = out.get(timeout=60)
        proc.join(30)
    return {"client": client, "server": server, "hostile_connections": conns, "hostile": hostile}


def ratios(phases: dict[str, Any]) -> dict[str, Any]:
    base = phases["quiet"]["client"]
    out: dict[str, Any] = {}
    for kind in KINDS:
        for route in ("healthz", "webhook"):
            got, ref = phases[kind]["client"][route], base[route]
            for q in ("p50_ms", "p99_ms"):
                if got[q] and ref[q]:
                    out[f"{kind}_{route}_{q.removesuffix('_ms')}"] = round(got[q] / ref[q], 2)
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    p.add_argument("--redis", default=os.environ.get("SKUSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    s = settings_for(a.smoke)

    import ray

    from actors.runtime import kill_channels, kill_supervisor
    from benchmarks.bench_shards import bench_shards
    from benchmarks.gateway_targets import start_serve
    from engine.config import Config

    phases: dict[str, Any] = {}
    with bench_shards(a.redis, "hostile", 100) as bench, tempfile.TemporaryDirectory() as tmp:
        cfg = bench.cfg
        path = Path(tmp) / "skusync.toml"
        path.write_text(config_toml(cfg["store"]["key_prefix"], a.redis, bench.token, s["cap"]))
        served, port = start_serve(path, ray.get_runtime_context().gcs_address)
        try:
            exchange(port, HEALTHZ)  # the first answer warms the gateway's paths
            idle = proc_figures(served.pid)
            for n, kind in enumerate((None, *KINDS)):
                phases[kind or "quiet"] = phase(
                    kind, port, served.pid, s, f"h{n}{cfg['store']['key_prefix'][-6:]}"
                )
        finally:
            served.terminate()
            exit_status = served.wait(60)
            config = Config.model_validate(cfg)
            kill_channels(config)
            kill_supervisor(config)
    payload = {
        "smoke": a.smoke,
        "settings": s,
        "serve_idle": idle,
        "serve_exit_status": exit_status,
        "ratios_to_quiet": ratios(phases),
        "phases": phases,
        "notes": NOTES,
    }
    out = write_result("hostile-smoke" if a.smoke else "hostile", payload, a.out)
    print(f"wrote {out}: {payload['ratios_to_quiet']}", flush=True)
    return out


NOTES = (
    "Closed loop, one request at a time, each on a new connection (Connection: close): latency is connect "
    "to the last byte of the answer, only 200s counted (others are in statuses). The gateway's limits are "
    "the defaults (16 KiB heads, 100 headers, 10 s head, 30 s body, 5 s keep-alive) but max_connections = "
    "cap. Hostile senders run in a separate process and reopen each connection 0.1 s after the gateway "
    "closes it, so the cap stays full for the whole phase; idle and slow_header open more connections than "
    "the cap, so each newcomer makes the gateway close the longest-idle one. Everything shares the cores."
)


if __name__ == "__main__":
    main()
