"""The gateway in a child process that can be SIGKILLed and started again on the same port.

``actors.local_stack.gateway_proc`` binds port 0, so a restarted gateway would be somewhere the
shoppers are not sending; a marketplace keeps one webhook address, so this child binds the port
its parent chose, each time. The rest is the same: config as JSON on stdin, ``PORT <n>`` on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys

import orjson

from actors.local_stack.gateway_proc import reveal
from engine.config import Config

CHILD = "from tests.soak.gateway import main; raise SystemExit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RestartableGateway:
    """``start`` (again after ``kill``) serves ``config``'s gateway at ``url``, always the same port."""

    def __init__(self, config: Config, ray_address: str) -> None:
        self.config, self.ray_address = config, ray_address
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return None if self.proc is None or self.proc.poll() is not None else self.proc.pid

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "--ray-address", self.ray_address, "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(orjson.dumps(reveal(self.config.model_dump())))
        self.proc.stdin.close()
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.kill()
            raise RuntimeError(f"the gateway process did not start (exit status {self.proc.poll()})")
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: requests in flight get no answer, as when a machine dies under the gateway."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout_s: float = 40.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
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
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = Config.model_validate(orjson.loads(sys.stdin.buffer.read()))
    sock = bind("127.0.0.1", args.port)
    try:
        start_ray(args.ray_address)
        handles = ensure_shards(config, config.store.redis_url or "", fan_out=True)
        client = ShardClient(handles, ShardMap(config.engine.shards, config.engine.vshards))
        server = GracefulServer(uvicorn_config(create_app(config, client)))
        settle_heap()
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        # Nobody reads the pipe after that line: anything printed later (Ray forwards its workers'
        # output to every driver) would fill it and block the gateway; stderr is inherited.
        os.dup2(2, 1)
        server.run(sockets=[sock])
    finally:
        sock.close()
        with contextlib.suppress(Exception):
            import ray

            ray.shutdown()
    return 0 if server.started else 1
