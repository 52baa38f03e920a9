"""The stack's gateway in a process of its own: same app and server as ``skusync serve``, no supervisor.

Why a process: under load the gateway, the simulators and the shoppers would share one interpreter
lock (``actors.gateway.server`` explains why the gateway is served from a process in production).
Why not ``skusync serve`` itself: it also starts the reconciliation supervisor, which a benchmark of
propagation must not have spending the channels' budget. The parent sends the config as JSON on
stdin (secrets stay out of argv and the environment), the child joins its Ray cluster, finds the
shards the parent created, binds a loopback port and prints ``PORT <n>``; SIGTERM drains and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
from typing import Any

import orjson
from pydantic import SecretStr

from engine.config import Config

CHILD = "from actors.local_stack.gateway_proc import main; raise SystemExit(main())"


def reveal(value: Any) -> Any:
    """``value`` with every ``SecretStr`` replaced by its secret, for handing the config to the child."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


class GatewayProcess:
    """A running child serving the gateway for ``config``; ``url`` once started, ``stop()`` drains it."""

    def __init__(self, config: Config, ray_address: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "--ray-address", ray_address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(orjson.dumps(reveal(config.model_dump())))
        self.proc.stdin.close()
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the gateway process did not start (exit status {self.proc.poll()})")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self, timeout_s: float = 40.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def main() -> int:
    from actors.gateway.app import create_app
    from actors.gateway.server import GracefulServer, bind, settle_heap, uvicorn_config
    from actors.runtime import ensure_shards, start_ray
    from actors.shard_client import ShardClient
    from engine.routing import ShardMap

    parser = argparse.ArgumentParser()
    parser.add_argument("--ray-address", required=True)
    args = parser.parse_args()
    config = Config.model_validate(orjson.loads(sys.stdin.buffer.read()))
    sock = bind("127.0.0.1", 0)
    try:
        start_ray(args.ray_address)
        # The parent created the shards (with fan-out); this finds them by name.
        handles = ensure_shards(config, config.store.redis_url or "", fan_out=True)
        client = ShardClient(handles, ShardMap(config.engine.shards, config.engine.vshards))
        server = GracefulServer(uvicorn_config(create_app(config, client)))
        settle_heap()
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        server.run(sockets=[sock])
    finally:
        sock.close()
        with contextlib.suppress(Exception):
            import ray

            ray.shutdown()
    return 0 if server.started else 1
