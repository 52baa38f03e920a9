"""A redis-server of a fault test's own, on a free port: the shared one must not be killed or paused."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class PrivateRedis:
    """``redis-server`` in ``workdir`` with no snapshots, plus ``args`` (an append-only file, say).

    ``start`` may be called again after ``kill``: same port, same directory, so a restart finds
    its data again.
    """

    def __init__(self, workdir: Path, *args: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # fail, never skip: the fault is part of what CI must show
            raise RuntimeError("redis-server is not on PATH; this fault test starts its own Redis")
        self.binary, self.dir, self.args = binary, workdir, args
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)),
                *("--save", ""),
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown save, only what the AOF already holds
        self.proc.wait(10)
