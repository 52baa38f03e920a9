"""The seed's decision path under the flash sale's arrivals: a webhook handler doing one PostgreSQL
``UPDATE stock SET qty = qty - n WHERE sku = $1 AND qty >= n`` per order line.

The handler is what a seller would write: a Starlette app served by uvicorn in a process of its own
(as skusync's gateway is in the benchmark), HMAC-SHA256 over the raw body checked with
``hmac.compare_digest`` before parsing, then one autocommit conditional UPDATE per line on a pool of
``connections`` PostgreSQL connections, answering each order with its decision. The parent replays
every attempt of the trace open loop (at its time, whatever the answers) and keeps, per order, its
due time and answer time: latency is answer - due, so queueing behind a slow handler counts.
It only decides: nothing here pushes to a channel, so it has no lag and no oversell of its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from adapters.sim.lag import percentile
from adapters.sim.polling import Arrival
from adapters.sim.webhook_sender import WebhookError, WebhookSender

TABLE = "skusync_flash_stock"
ROOT = Path(__file__).resolve().parents[1]
CHILD = "from benchmarks.flash_sale_pg import serve; raise SystemExit(serve())"


def sign(secret: bytes, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def make_app(dsn: str, secret: bytes, connections: int) -> Any:
    import psycopg
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    pool: asyncio.Queue[Any] = asyncio.Queue()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        opened = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(connections)]
        for conn in opened:
            pool.put_nowait(conn)
        yield
        for conn in opened:
            await conn.close()

    async def orders(request: Request) -> Response:
        body = await request.body()
        given = request.headers.get("x-signature", "")
        if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
            return Response(status_code=401)
        order = orjson.loads(body)
        conn = await pool.get()
        try:
            lines = []
            for line in order["lines"]:
                cur = await conn.execute(
                    f"UPDATE {TABLE} SET qty = qty - %s WHERE sku = %s AND qty >= %s RETURNING qty",
                    (line["units"], line["sku"], line["units"]),
                    prepare=True,
                )
                row = await cur.fetchone()
                lines.append({"sku": line["sku"], "accepted": line["units"] if row else 0})
        finally:
            pool.put_nowait(conn)
        return Response(orjson.dumps({"decisions": [{"lines": lines}]}), media_type="application/json")

    return Starlette(routes=[Route("/orders", orders, methods=["POST"])], lifespan=lifespan)


def serve() -> int:
    """Child process: read ``{dsn, secret, connections}`` on stdin, print ``PORT n``, serve until SIGTERM."""
    import uvicorn

    from actors.gateway.server import bind

    cfg = orjson.loads(sys.stdin.buffer.read())
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(make_app(cfg["dsn"], cfg["secret"].encode(), cfg["connections"]), log_level="warning")
    )
    sock.listen(2048)  # listening before the parent is told the port: its first order may come at once
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    return 0


def load_stock(dsn: str, initial: Mapping[str, int]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (sku text PRIMARY KEY, qty bigint NOT NULL)")
        with conn.cursor().copy(f"COPY {TABLE} (sku, qty) FROM STDIN") as copy:
            for sku, q in initial.items():
                copy.write_row((sku, q))


def remaining(dsn: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(f"SELECT sku, qty FROM {TABLE}").fetchall()
        conn.execute(f"DROP TABLE {TABLE}")
    return {str(s): int(q) for s, q in rows}


async def replay(
    url: str, secret: bytes, trace: Sequence[Arrival], max_connections: int
) -> list[dict[str, Any]]:
    """Send every attempt at its time (open loop); per order: due, answered, status, accepted units."""
    sender = WebhookSender(url, timeout_s=10.0, max_connections=max_connections)
    loop = asyncio.get_running_loop()
    start = loop.time()
    out: list[dict[str, Any]] = []

    async def one(i: int, a: Arrival) -> None:
        body = orjson.dumps({"order_id": i, "lines": [{"sku": a.sku, "units": a.units}]})
        row: dict[str, Any] = {"due": a.t, "units": a.units, "accepted": 0, "status": None}
        try:
            status, answer = await sender.post(body, {"x-signature": sign(secret, body)})
            row["status"] = status
            if status == 200:
                row["accepted"] = orjson.loads(answer)["decisions"][0]["lines"][0]["accepted"]
        except WebhookError as exc:
            row["error"] = str(exc)[:200]
        row["answered"] = loop.time() - start
        out.append(row)

    tasks = []
    try:
        for i, a in enumerate(trace):
            delay = start + a.t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(one(i, a)))
        await asyncio.gather(*tasks)
    finally:
        await sender.aclose()
    return out


def run(
    dsn: str,
    trace: Sequence[Arrival],
    initial: Mapping[str, int],
    peak: tuple[float, float],
    connections: int = 4,
) -> dict[str, Any]:
    """The whole decision-path run: load stock, start the handler, replay, figures, drop the table."""
    try:
        load_stock(dsn, initial)
    except Exception as exc:  # no PostgreSQL here: say so rather than fail the whole benchmark
        return {"skipped": f"PostgreSQL unavailable: {str(exc).strip().splitlines()[0]}"}
    secret = secrets.token_urlsafe(24)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(orjson.dumps({"dsn": dsn, "secret": secret, "connections": connections}))
    proc.stdin.close()
    try:
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the PostgreSQL handler did not start (exit status {proc.poll()})")
        url = f"http://127.0.0.1:{int(line.split()[1])}/orders"
        t0 = time.monotonic()
        rows = asyncio.run(replay(url, secret.encode(), trace, max_connections=64))
        elapsed = time.monotonic() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    left = remaining(dsn)
    return figures(rows, initial, left, peak, elapsed) | {"connections": connections}


def figures(
    rows: list[dict[str, Any]],
    initial: Mapping[str, int],
    left: Mapping[str, int],
    peak: tuple[float, float],
    elapsed: float,
) -> dict[str, Any]:
    decided = [r for r in rows if r["status"] == 200]
    lat = sorted(r["answered"] - r["due"] for r in decided)
    lo, hi = peak
    in_peak = sum(1 for r in decided if lo <= r["answered"] < hi)
    accepted = sum(r["accepted"] for r in decided)
    return {
        "orders_offered": len(rows),
        "decided": len(decided),
        "failed": len(rows) - len(decided),
        "accepted_units": accepted,
        "refused_by_master": sum(1 for r in decided if r["accepted"] == 0),
        "decisions_per_s": round(len(decided) / elapsed, 1),
        "decisions_per_s_in_peak": round(in_peak / (hi - lo), 1),
        "latency_p50_s": percentile(lat, 50),
        "latency_p99_s": percentile(lat, 99),
        "latency_max_s": round(lat[-1], 4) if lat else None,
        "conserved": sum(initial.values()) - accepted == sum(left.values()),
        "never_negative": min(left.values(), default=0) >= 0,
    }
