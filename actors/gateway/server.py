"""Serving the gateway: ``skusync serve`` (one process per node) and a background server for tests.

Why a process holding actor handles rather than uvicorn inside a Ray actor: issue 3 asked to measure
both (``benchmarks/gateway.py``, ``benchmarks/results/gateway.json``, same app and server settings).
On the 2-core development machine both keep up below saturation, but the process reached the higher
capacity (2,941 vs 2,658 webhooks/s with 64 connections, 4,247 vs 3,511 with 512) with a much
shorter tail (p99 at capacity 37 vs 78 ms; at 2,000/s 67 vs 83 ms). An actor's event loop is Ray's
own (no uvloop) and also runs Ray's task handling, and Ray starts its workers at nice 15, behind
everything else on a busy node. The process also owns what an operator relies on: its signals
(SIGTERM stops accepting, drains the batches in flight and exits 0, as INTERFACE.md promises; an
actor is ended by ``ray.kill``), its port, and restarts by the node's supervisor.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator
from types import FrameType
from typing import Any

import uvicorn

from actors.gateway.http_limits import HttpLimits, fd_budget, protocol_for
from engine.config import Config

BACKLOG = 2048
"""uvicorn's default listen backlog, used when ``serve`` listens before uvicorn starts."""

GRACEFUL_TIMEOUT_S = 30.0
"""How long shutdown waits for requests in flight (each waits for its batch) before closing them."""


class GracefulServer(uvicorn.Server):
    """uvicorn, except that SIGINT/SIGTERM end the process with status 0 after a graceful shutdown.

    uvicorn re-raises a captured signal once it has shut down, so the default SIGTERM action
    would end the process with -15 after the drain; ``skusync serve`` promises exit status 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread; a background server is stopped by stop()
            return
        # A shell starts background jobs with SIGINT ignored; by Unix convention it stays ignored.
        handled = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]
        original = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    stages = False
    """Say on stderr which step of the shutdown it is in (``serve``): a stop that hangs names it."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.stages:
            _stage("no new connections; finishing requests in flight, then the batches")
        await super().shutdown(sockets)
        if self.stages:
            _stage("requests and batches drained")

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        # first signal: stop accepting and drain; a second SIGINT gives up waiting
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def settle_heap() -> None:
    """Move everything alive after startup out of the collector's sight (``gc.freeze``).

    Ray and its imports leave hundreds of thousands of long-lived objects; without this, each
    full collection walks them all, which showed up as a tenth of the gateway's CPU under load.
    """
    gc.collect()
    gc.freeze()


def uvicorn_config(app: Any, log_level: str = "warning", limits: HttpLimits | None = None) -> uvicorn.Config:
    """One process, httptools under the gateway's HTTP limits (the defaults when ``limits`` is
    None), uvloop when installed, lifespan on (it drains the batcher)."""
    return uvicorn.Config(
        app,
        http=protocol_for(limits or HttpLimits()),
        ws="none",  # no WebSocket route: an upgrade request is served as plain HTTP
        lifespan="on",
        log_level=log_level,
        access_log=False,
        server_header=False,
        # Nothing here reads the client address, so uvicorn's X-Forwarded-For rewriting is pure
        # cost: 2-3 % of the gateway's CPU per webhook in py-spy samples at 2,000 webhooks/s.
        proxy_headers=False,
        timeout_graceful_shutdown=int(GRACEFUL_TIMEOUT_S),
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it from ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """The app served on a loopback port from a thread of this process (tests, benchmarks)."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, limits: HttpLimits | None = None
    ) -> None:
        self.sock = bind(host, port)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = GracefulServer(uvicorn_config(app, limits=limits))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="gateway", daemon=True
        )

    def start(self, timeout_s: float = 30.0) -> BackgroundServer:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = GRACEFUL_TIMEOUT_S + 5) -> None:
        """Graceful shutdown: stop accepting, finish requests in flight, drain the batcher."""
        self.server.should_exit = True
        self._thread.join(timeout_s)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: Config, ray_address: str | None = None) -> int:
    """``skusync serve``: start or join Ray, ensure the actors, serve until SIGINT/SIGTERM.

    Channel actors come first so the shards, which hand every committed change to them, find
    them. Without a Redis URL the embedded store runs in this process (notice on stderr) under a
    key prefix of its own, and the actors made for it are removed on exit. Returns the exit status.
    Raises ``OSError`` when the port cannot be bound.
    """
    from actors.gateway.app import create_app
    from actors.runtime import (
        ensure_channels,
        ensure_shards,
        ensure_supervisor,
        kill_archiver,
        kill_channels,
        kill_shards,
        kill_supervisor,
        start_ray,
    )
    from actors.shard_client import ShardClient
    from engine.routing import ShardMap
    from engine.store.embedded import EmbeddedStore

    sock = bind(config.gateway.host, config.gateway.port)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: for a gateway that does not stop
    # or answer, what it is waiting on, without a debugger on a production node
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    embedded = None
    if not config.store.redis_url:
        embedded = EmbeddedStore().start()
        config.store.redis_url = embedded.url
        config.store.key_prefix = f"serve{os.getpid()}"
    try:
        if embedded is None:
            _warn_if_volatile(config.store.redis_url)
        start_ray(ray_address)
        ensure_channels(config, config.store.redis_url)
        handles = ensure_shards(config, config.store.redis_url, fan_out=True)
        ensure_supervisor(config, config.store.redis_url)  # reconciliation, redrive, health
        client = ShardClient(handles, ShardMap(config.engine.shards, config.engine.vshards))
        limits, short = fd_budget(HttpLimits.of(config.gateway))
        if short:
            print(f"skusync: warning: {short}", file=sys.stderr, flush=True)
        server = GracefulServer(uvicorn_config(create_app(config, client), limits=limits))
        server.stages = True
        settle_heap()
        # listening before the announcement: a client that read it waits in the backlog until
        # uvicorn accepts, instead of being refused
        sock.listen(BACKLOG)
        _announce(config, sock)
        server.run(sockets=[sock])
        _stage("the event loop has finished")
    finally:
        sock.close()
        if embedded is not None:
            _stage("removing the embedded deployment's actors and store")
            kill_shards(config)
            kill_channels(config)
            kill_supervisor(config)
            kill_archiver(config)
            embedded.stop()
    if not server.started:
        print("skusync: the gateway failed to start", file=sys.stderr)
        return 1
    if server.force_exit:  # a second SIGINT: requests in flight were cut off, not drained
        print("skusync: gateway stopped without draining (second interrupt)", file=sys.stderr, flush=True)
        return 1
    print("skusync: gateway stopped; batches in flight were drained", file=sys.stderr, flush=True)
    return 0


def _stage(what: str) -> None:
    print(f"skusync: stopping: {what}", file=sys.stderr, flush=True)


def _warn_if_volatile(redis_url: str) -> None:
    """Say at start-up when the store can lose answered decisions in a Redis crash (not fatal)."""
    import redis

    from engine.store.durability import check_durability

    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        gap = check_durability(client)
    except redis.RedisError as exc:
        gap = f"cannot reach Redis to read its persistence settings: {exc}"
    finally:
        client.close()
    if gap:
        print(f"skusync: warning: {gap}", file=sys.stderr, flush=True)


def _announce(config: Config, sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    channels = ", ".join(c.id for c in config.channels) or "none"
    print(
        f"skusync: gateway serving on http://{host}:{port} ({config.engine.shards} shards; "
        f"channels: {channels})",
        file=sys.stderr,
        flush=True,
    )
    if config.gateway.admin_token.get_secret_value() == "change-me":
        print(
            "skusync: warning: the admin token is the default; set SKUSYNC_ADMIN_TOKEN",
            file=sys.stderr,
            flush=True,
        )
