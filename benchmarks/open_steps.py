"""The overload benchmark's load: open-loop steps from a process of their own, and their figures.

Built on ``benchmarks.loadgen`` (pre-signed webhooks, raw HTTP/1.1 over keep-alive connections),
keeping for every answer when it was due, when it was written and its status, so the figures can
separate the 200s from the 503s and the load generator's own queueing from the server's.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from typing import Any

from benchmarks.answers import pct
from benchmarks.loadgen import PHASES, Conn, Pool, drain, send_open_loop, signed_requests

now = time.perf_counter


class TimedConn(Conn):
    """A connection that notes when its request was written, and whether a 503 said when to retry."""

    sent = 0.0
    retry_after = False

    def send(self, request: bytes, scheduled: float) -> None:
        self.sent, self.retry_after = now(), False
        super().send(request, scheduled)

    def data_received(self, data: bytes) -> None:
        head = (bytes(self.buf) + data).split(b"\r\n\r\n", 1)[0]
        self.retry_after = b"\r\nretry-after:" in head.lower()
        super().data_received(data)


class TimedPool(Pool):
    """``Pool`` keeping, per answer: due time, write time, answer time, status; and the 503s that
    carried ``Retry-After``."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.timed: list[tuple[float, float, float, int]] = []
        self.retry_after = 0

    async def connect(self) -> None:
        _, conn = await self.loop.create_connection(lambda: TimedConn(self), "127.0.0.1", self.port)
        self.conns.append(conn)
        self.free(conn)

    def answered(self, conn: Conn, code: int, scheduled: float) -> None:
        if code == 503 and getattr(conn, "retry_after", False):
            self.retry_after += 1
        self.timed.append((scheduled, getattr(conn, "sent", scheduled), now(), code))
        super().answered(conn, code, scheduled)


async def drive_open(spec: dict[str, Any]) -> dict[str, Any]:
    """Open loop at ``spec["rate"]`` for ``spec["seconds"]``; every answer's times and status."""
    rate, seconds = spec["rate"], spec["seconds"]
    requests = signed_requests(spec["tag"], int(rate * seconds), spec["skus"], spec["first_id"])
    pool = TimedPool(spec["port"])
    for _ in range(spec["conns"]):
        await pool.connect()
    t0 = now() + 0.01
    lag: list[float] = []
    await send_open_loop(pool, requests, rate, t0, lag)
    await drain(pool, seconds + 60)
    return {
        "timed": pool.timed,
        "t0": t0,
        "lag": lag,
        "never": pool.status[-1],
        "retry_after": pool.retry_after,
    }


def _open_loadgen(spec: dict[str, Any], out: Any) -> None:
    try:
        import uvloop

        out.put(uvloop.run(drive_open(spec)))
    except ImportError:
        out.put(asyncio.run(drive_open(spec)))


def open_step(port: int, tag: str, rate: float, seconds: float, settings: dict[str, Any]) -> dict[str, Any]:
    """One open-loop step from a separate process; the raw answers."""
    spec = {
        "port": port,
        "tag": tag,
        "rate": rate,
        "seconds": seconds,
        "skus": settings["skus"],
        "conns": settings["open_conns"],
        "first_id": next(PHASES) * 100_000_000,
    }
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_open_loadgen, args=(spec, out), daemon=True)
    proc.start()
    try:
        result: dict[str, Any] = out.get(timeout=seconds + 240)
    finally:
        proc.join(30)
    return result


def step_figures(raw: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    """Accepted/s, 503s and latency of the accepted requests, from one step's raw answers."""
    timed, t0 = raw["timed"], raw["t0"]
    ok = sorted((answered - due) * 1000 for due, _, answered, code in timed if code == 200)
    ok_server = sorted((answered - sent) * 1000 for _, sent, answered, code in timed if code == 200)
    refused = [(answered - sent) * 1000 for _, sent, answered, code in timed if code == 503]
    statuses: dict[str, int] = {}
    for *_, code in timed:
        statuses[str(code)] = statuses.get(str(code), 0) + 1
    if raw["never"]:
        statuses["-1"] = raw["never"]
    last = max((answered for _, _, answered, _ in timed), default=t0 + seconds)
    elapsed = max(last - t0, 1e-9)
    return {
        "offered_per_s": round(rate, 1),
        "seconds": seconds,
        "elapsed_s": round(elapsed, 3),
        "sent": len(timed) + raw["never"],
        "statuses": statuses,
        "accepted": len(ok),
        "accepted_per_s": round(len(ok) / elapsed, 1),
        "refused_503": len(refused),
        "refused_503_per_s": round(len(refused) / elapsed, 1),
        "refused_503_with_retry_after": raw["retry_after"],
        "p50_ms": pct(ok, 0.5),
        "p99_ms": pct(ok, 0.99),
        "max_ms": round(ok[-1], 2) if ok else 0.0,
        "server_p50_ms": pct(ok_server, 0.5),
        "server_p99_ms": pct(ok_server, 0.99),
        "refused_p99_ms": pct(sorted(refused), 0.99),
        "send_lag_p99_ms": pct(sorted(x * 1000 for x in raw["lag"]), 0.99),
    }


def stall_timeline(raw: dict[str, Any], bucket_s: float) -> list[dict[str, Any]]:
    """Per ``bucket_s`` of scheduled send time: requests, 200s, 503s, p99 of the 200s' server time."""
    buckets: dict[int, list[tuple[float, float, float, int]]] = {}
    for answer in raw["timed"]:
        buckets.setdefault(int((answer[0] - raw["t0"]) / bucket_s), []).append(answer)
    out = []
    for i in sorted(buckets):
        ok = sorted((a[2] - a[1]) * 1000 for a in buckets[i] if a[3] == 200)
        out.append(
            {
                "t": round(i * bucket_s, 2),
                "sent": len(buckets[i]),
                "ok": len(ok),
                "refused_503": sum(1 for a in buckets[i] if a[3] == 503),
                "server_p99_ms": pct(ok, 0.99),
            }
        )
    return out
