"""Open-loop HTTP load from a process of its own: pre-signed webhooks on a fixed schedule, raw HTTP/1.1.

Each request's latency counts from its scheduled send time, so queueing anywhere (client pool,
server) shows. A phase with ``rate=None`` is closed loop (every connection sends again as soon as it
is answered): the capacity of the target. Used by ``benchmarks.gateway``.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.answers import Answer, summary, timeline
from benchmarks.proc_cpu import CpuMeter, totals, usage

CHANNEL, SECRET = "shop-bench", "bench-webhook-secret"
PHASES = itertools.count(1)
now = time.perf_counter
"""Timestamps for latencies: uvloop's ``loop.time()`` is libuv's cached millisecond clock."""


# -- load generator (runs in a process of its own) ----------------------------------------------
def signed_requests(tag: str, n: int, skus: int, first_id: int) -> list[bytes]:
    """``n`` signed Shopify ``orders/create`` deliveries as raw HTTP/1.1 requests, one unit each."""
    import orjson

    from adapters.shopify.inbound import signature

    out = []
    for i in range(n):
        item = {"id": 1, "variant_id": 42, "title": "Tee", "sku": f"B{i % skus:05d}", "quantity": 1}
        order = {
            "id": first_id + i,
            "name": f"#{tag}-{i}",
            "email": "buyer@example.com",
            "created_at": "2025-11-28T09:00:00-05:00",
            "updated_at": "2025-11-28T09:00:00-05:00",
            "currency": "USD",
            "total_price": "19.90",
            "financial_status": "paid",
            "line_items": [item],
        }
        body = orjson.dumps(order)
        head = (
            f"POST /webhooks/{CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Shopify-Topic: orders/create\r\n"
            f"X-Shopify-Hmac-Sha256: {signature(SECRET, body)}\r\nX-Shopify-Event-Id: {tag}-{i}\r\n"
            "X-Shopify-Shop-Domain: bench.myshopify.com\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool, self.buf = pool, bytearray()
        self.scheduled: float | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, request: bytes, scheduled: float) -> None:
        self.scheduled = scheduled
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        size = end + 4 + content_length(bytes(self.buf[:end]))
        if len(self.buf) >= size:
            code = int(self.buf[9:12])
            del self.buf[:size]
            self._answered(code)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._answered(0)
        self.pool.lost(self)

    def _answered(self, code: int) -> None:
        scheduled, self.scheduled = self.scheduled, None
        if scheduled is not None:
            self.pool.answered(self, code, scheduled)


class Pool:
    """Keep-alive connections used in turn; a request waits in FIFO order while all are busy.

    A connection the server closes (its keep-alive timeout, an error) is replaced, and a request
    it was carrying counts as status 0.
    """

    def __init__(self, port: int) -> None:
        self.loop, self.port = asyncio.get_running_loop(), port
        self.conns: list[Conn] = []
        self.idle: deque[Conn] = deque()
        self.waiting: deque[tuple[bytes, float]] = deque()
        self.latencies: list[float] = []
        self.answers: list[Answer] = []
        """(scheduled, latency, status) per answer, kept for a phase that asks for its timeline."""
        self.keep_answers = False
        self.status: Counter[int] = Counter()
        self.outstanding, self.last = 0, 0.0
        self.drained = asyncio.Event()
        self.closing = False
        self.next: Any = None
        """Closed loop: called after every answer to send the next request."""

    async def connect(self) -> None:
        _, conn = await self.loop.create_connection(lambda: Conn(self), "127.0.0.1", self.port)
        self.conns.append(conn)
        self.free(conn)

    def free(self, conn: Conn) -> None:
        if self.waiting:
            conn.send(*self.waiting.popleft())
        else:
            self.idle.append(conn)

    def lost(self, conn: Conn) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        if not self.closing:
            self.loop.create_task(self.connect())

    def submit(self, request: bytes, scheduled: float) -> None:
        self.outstanding += 1
        self.drained.clear()
        if self.idle:
            self.idle.popleft().send(request, scheduled)
        else:
            self.waiting.append((request, scheduled))

    def answered(self, conn: Conn, code: int, scheduled: float) -> None:
        self.last = now()
        self.latencies.append(self.last - scheduled)
        if self.keep_answers:
            self.answers.append((scheduled, self.last - scheduled, code))
        self.status[code] += 1
        self.outstanding -= 1
        if self.next is not None:
            self.next()
        if conn.transport is not None:
            self.free(conn)
        if self.outstanding == 0:
            self.drained.set()

    def close(self) -> None:
        self.closing = True
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """One phase: open loop at ``spec["rate"]`` per second, or closed loop (``rate`` None)."""
    rate, seconds = spec["rate"], spec["seconds"]
    n = int(rate * seconds) if rate else int(spec["closed_cap_per_s"] * seconds)
    # built before the clock starts; order ids are unique per phase (the ledger counts an order once)
    requests = signed_requests(spec["tag"], n, spec["skus"], spec["first_id"])
    pool = Pool(spec["port"])
    pool.keep_answers = bool(spec.get("timeline_s"))
    for _ in range(spec["conns"]):
        await pool.connect()
    lag: list[float] = []
    t0 = now() + 0.01
    cpu0 = time.process_time()
    if rate is None:
        feed = iter(requests)
        until = t0 + seconds

        def send_next() -> None:
            req = next(feed, None)
            if req is not None and now() < until:
                pool.submit(req, now())

        pool.next = send_next
        for _ in range(spec["conns"]):
            send_next()
    else:
        await send_open_loop(pool, requests, rate, t0, lag)
    await drain(pool, seconds + 60)
    elapsed = max(pool.last - t0, 1e-9)
    result = summary(pool.latencies, pool.status, elapsed, rate, lag)
    result["elapsed_s"] = round(elapsed, 3)
    if pool.keep_answers:
        result["t0_unix"] = time.time() - (now() - t0)
        result["timeline"] = timeline(pool.answers, t0, spec["timeline_s"], spec.get("slow_ms", 100.0))
    result["loadgen_cpu"] = usage(time.process_time() - cpu0, len(pool.latencies), elapsed)
    return result


def _loadgen(spec: dict[str, Any], out: Any) -> None:
    try:
        import uvloop

        out.put(uvloop.run(drive(spec)))
    except ImportError:
        out.put(asyncio.run(drive(spec)))


def phase(
    port: int, tag: str, rate: float | None, seconds: float, settings: dict[str, Any]
) -> dict[str, Any]:
    """One load phase from a separate process; ``rate=None`` is the closed-loop capacity phase."""
    conns = settings["open_conns"] if rate else settings["closed_conns"]
    spec = {
        "port": port,
        "tag": tag,
        "rate": rate,
        "seconds": seconds,
        "skus": settings["skus"],
        "conns": conns,
        "closed_cap_per_s": settings["closed_cap_per_s"],
        "first_id": next(PHASES) * 100_000_000,
        "timeline_s": settings.get("timeline_s"),
        "slow_ms": settings.get("slow_ms", 100.0),
    }
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_loadgen, args=(spec, out), daemon=True)
    proc.start()
    try:
        result: dict[str, Any] = out.get(timeout=seconds + 240)
    finally:
        proc.join(30)
    shown = {k: v for k, v in result.items() if k not in ("timeline", "loadgen_cpu", "t0_unix")}
    print(f"  {tag}: {shown}", flush=True)
    return result


def metered_phase(
    port: int,
    tag: str,
    rate: float | None,
    seconds: float,
    settings: dict[str, Any],
    pids: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    """``phase``, plus the CPU each group of the target's processes and the load generator used."""
    meter = CpuMeter(pids)
    result = phase(port, tag, rate, seconds, settings)
    cpu = meter.result(result["answered"], result["elapsed_s"])
    cpu["loadgen"] = result.pop("loadgen_cpu")
    result["cpu"] = cpu | {"total": totals(cpu)}
    print(f"    cpu: {result['cpu']}", flush=True)
    return result


def measure(
    port: int, name: str, run: str, settings: dict[str, Any], pids: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Warm up, then every fixed rate, then the closed-loop capacity phases, against one target
    whose processes are ``pids`` (grouped by role, for the CPU figures)."""
    warmup = phase(port, f"{run}-{name}-warm", settings["warm_rate"], settings["warm_s"], settings)
    rates = []
    for rate in settings["rates"]:
        time.sleep(settings["pause_s"])
        rates.append(metered_phase(port, f"{run}-{name}-{rate}", rate, settings["seconds"], settings, pids))
    time.sleep(settings["pause_s"])
    capacity = metered_phase(port, f"{run}-{name}-cap", None, settings["capacity_s"], settings, pids)
    time.sleep(settings["pause_s"])
    # many more connections in flight: bigger batches, so the per-call costs are shared by more events
    wide = {**settings, "closed_conns": settings["wide_conns"]}
    capacity_wide = metered_phase(port, f"{run}-{name}-capwide", None, settings["capacity_s"], wide, pids)
    return {"warmup": warmup, "rates": rates, "capacity": capacity, "capacity_wide": capacity_wide}


async def send_open_loop(pool: Any, requests: list[bytes], rate: float, t0: float, lag: list[float]) -> None:
    """Submit request ``i`` at ``t0 + i / rate`` whatever the answers do (open loop); ``lag`` gets how
    late each one left (the sender's own delay, reported so a saturated sender is visible)."""
    for i, req in enumerate(requests):
        due = t0 + i / rate
        if due > now():
            await asyncio.sleep(due - now())
        lag.append(now() - due)
        pool.submit(req, due)


async def drain(pool: Any, timeout_s: float) -> None:
    """Wait for every answer (at most ``timeout_s``); the unanswered count as status -1; close."""
    try:
        await asyncio.wait_for(pool.drained.wait(), timeout=timeout_s)
    except TimeoutError:
        pool.status[-1] += pool.outstanding  # never answered
    pool.close()
