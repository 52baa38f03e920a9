"""The four targets of the gateway benchmark, each started in processes of its own, and their pids.

A bare uvicorn + Starlette app; the gateway app over stub shards (the HTTP side alone); ``skusync
serve`` (the shipped variant); the same app under uvicorn on a Ray actor's event loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from benchmarks.loadgen import CHANNEL, SECRET

ROOT = Path(__file__).parents[1]


def bare_app(out: Any) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from actors.gateway.server import bind

    async def hello(request: Request) -> JSONResponse:
        await request.body()  # receive what the gateway receives; do nothing with it
        return JSONResponse({"hello": "world"})

    sock = bind("127.0.0.1", 0)
    out.put(sock.getsockname()[1])
    app = Starlette(routes=[Route("/webhooks/{channel}", hello, methods=["POST"])])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


class StubShards:
    """Answers every event at once as the ledger would (no Ray, no Redis): isolates the HTTP side."""

    async def submit_async(self, events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        decisions = []
        for ev in events:
            lines = [
                {
                    "sku": ln["sku"],
                    "outcome": "accepted",
                    "delta": -ln["quantity"],
                    "available": 0,
                    "version": 1,
                    "requested": ln["quantity"],
                    "accepted": ln["quantity"],
                }
                for ln in ev["lines"]
            ]
            decisions.append(
                {
                    "key": ev["key"],
                    "kind": ev["kind"],
                    "outcome": "applied",
                    "lines": lines,
                    "channel": ev["channel"],
                    "order_id": ev["order_id"],
                }
            )
        await asyncio.sleep(0)
        return decisions, {}


def stub_gateway(out: Any, cfg: dict[str, Any]) -> None:
    from actors.gateway import create_app
    from actors.gateway.server import GracefulServer, bind, settle_heap, uvicorn_config
    from engine.config import Config

    app = create_app(Config.model_validate(cfg), StubShards())  # type: ignore[arg-type]
    sock = bind("127.0.0.1", 0)
    out.put(sock.getsockname()[1])
    settle_heap()
    GracefulServer(uvicorn_config(app)).run(sockets=[sock])


def start_process(target: Any, *args: Any) -> tuple[Any, int]:
    """``target(queue, *args)`` in a process of its own, which puts its port on the queue."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(out, *args), daemon=True)
    proc.start()
    return proc, int(out.get(timeout=60))


def config_toml(prefix: str, redis_url: str, token: str) -> str:
    return (
        f'[store]\nredis_url = "{redis_url}"\nkey_prefix = "{prefix}"\n'
        f'[gateway]\nhost = "127.0.0.1"\nport = 0\nadmin_token = "{token}"\n[engine]\nshards = 2\n'
        f'[[channels]]\nid = "{CHANNEL}"\nkind = "shopify"\nwebhook_secret = "{SECRET}"\n'
    )


def start_serve(config_path: Path, ray_address: str) -> tuple[subprocess.Popen[str], int]:
    """``skusync serve`` joined to this Ray cluster (the shipped variant); returns (process, port)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "actors.cli",
            "serve",
            "--config",
            str(config_path),
            "--ray-address",
            ray_address,
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SKUSYNC_")},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "gateway serving on " in line:
            port = int(line.split("serving on ", 1)[1].split()[0].rsplit(":", 1)[1])
            # keep draining stderr so the server never blocks on a full pipe
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, port
    raise RuntimeError(f"skusync serve exited with {proc.wait()}")


class GatewayInActor:
    """The alternative measured here: the same app and uvicorn, run on a Ray actor's event loop."""

    async def start(self, config: dict[str, Any]) -> int:
        import ray

        from actors.gateway import create_app
        from actors.gateway.server import GracefulServer, bind, uvicorn_config
        from actors.runtime import NAMESPACE, shard_name
        from actors.shard_client import ShardClient
        from engine.config import Config
        from engine.routing import ShardMap

        cfg = Config.model_validate(config)
        handles = [
            ray.get_actor(shard_name(cfg.store.key_prefix, i), namespace=NAMESPACE)
            for i in range(cfg.engine.shards)
        ]
        app = create_app(cfg, ShardClient(handles, ShardMap(cfg.engine.shards, cfg.engine.vshards)))
        sock = bind("127.0.0.1", 0)
        self.server = GracefulServer(uvicorn_config(app))
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        port: int = sock.getsockname()[1]
        return port

    def pid(self) -> int:
        return os.getpid()

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


def gateway_actor(cfg: dict[str, Any]) -> tuple[Any, int, int]:
    """Start ``GatewayInActor`` (no CPU reserved, like the shards); returns (handle, port, pid)."""
    import ray

    actor: Any = ray.remote(num_cpus=0)(GatewayInActor).remote()
    port: int = ray.get(actor.start.remote(cfg), timeout=120)
    pid: int = ray.get(actor.pid.remote(), timeout=60)
    return actor, port, pid
