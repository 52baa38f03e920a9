"""A lean pipelined Redis connection for the shard's two hot calls (EVALSHA of fetch and commit).

Why not ``redis.asyncio`` for these two: on the 2-core EPYC machine one ``evalsha`` costs its
caller 133-156 us of CPU through redis-py 8's client (connection pool, retry wrapper, timeouts,
event dispatch, observability hooks), 76-101 us through a bare redis-py ``Connection`` and 41-58 us
through this class (``benchmarks/redis_call.py``, three runs). A shard makes two such calls per
batch and, at 2,000 webhooks/s, about 500 batches a second: through ``skusync serve`` the two
shards went from 48-52 % to 36-38 % of a core.

The contract is redis-py's, so callers handle one set of errors: replies come back in order; an
error reply raises ``redis.ResponseError`` (``NoScriptError`` for NOSCRIPT); a lost connection or a
reply later than ``timeout_s`` fails every call in flight with ``redis.ConnectionError`` or
``redis.TimeoutError`` and closes the connection (the next call connects again). A call that fails
that way may or may not have run: the shard treats it as a failed commit and reloads.

Only plain TCP is handled here (``ScriptConnection.for_client`` returns ``None`` for TLS, Unix
sockets or a credential provider); the caller then keeps using redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection


class ScriptConnection:
    """EVALSHA over one pipelined TCP connection: any number of calls in flight, answered in order."""

    def __init__(
        self,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self._wire: _Wire | None = None
        self._connecting: asyncio.Future[_Wire] | None = None
        self.connects = 0

    @classmethod
    def for_client(cls, client: aioredis.Redis) -> ScriptConnection | None:
        """A connection to the same server as ``client``, or ``None`` if it is not plain TCP."""
        pool = client.connection_pool
        kw = pool.connection_kwargs
        if pool.connection_class is not Connection or kw.get("credential_provider") is not None:
            return None
        return cls(
            host=kw.get("host", "localhost"),
            port=int(kw.get("port", 6379)),
            db=int(kw.get("db", 0) or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            timeout_s=float(kw.get("socket_timeout") or 10.0),
        )

    async def evalsha(self, sha: str, numkeys: int, *args: str | bytes | int) -> Any:
        """``EVALSHA sha numkeys *args``: the script's reply (bytes, int, list or ``None``)."""
        return await self.call("EVALSHA", sha, numkeys, *args)

    async def call(self, *args: str | bytes | int) -> Any:
        """Any command, its reply undecoded (connects first if needed)."""
        wire = self._wire
        if wire is None or wire.closed:
            wire = await self._connect()
        return await wire.call(_pack(args))

    def close(self) -> None:
        """Close the connection; calls in flight fail with ``ConnectionError``."""
        if self._wire is not None:
            self._wire.fail(redis.ConnectionError("connection closed by its owner"))
            self._wire = None

    async def _connect(self) -> _Wire:
        while (pending := self._connecting) is not None:  # another call is connecting: share it
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller itself was cancelled
                # the caller that was connecting was cancelled: connect for ourselves
        loop = asyncio.get_running_loop()
        self._connecting = connecting = loop.create_future()
        try:
            wire = await self._open(loop)
            self._wire = wire
            self.connects += 1
            connecting.set_result(wire)
            return wire
        except asyncio.CancelledError:
            connecting.cancel()  # this caller was cancelled; the ones sharing the attempt try again
            raise
        except BaseException as exc:
            connecting.set_exception(exc)
            connecting.exception()  # retrieved here; every waiter raises it too
            raise
        finally:
            self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Wire:
        try:
            _, wire = await asyncio.wait_for(
                loop.create_connection(lambda: _Wire(self.timeout_s), self.host, self.port), self.timeout_s
            )
        except (TimeoutError, OSError) as exc:
            raise redis.ConnectionError(f"connecting to Redis at {self.host}:{self.port}: {exc!r}") from exc
        try:
            if self.password:
                auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                await wire.call(_pack(auth))
            if self.db:
                await wire.call(_pack(("SELECT", self.db)))
        except BaseException:
            wire.fail(redis.ConnectionError("set-up of the connection failed"))
            raise
        return wire


class _Wire(asyncio.Protocol):
    """One TCP connection's state: its transport, reply parser, callers waiting in order, timer."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.reader = hiredis.Reader(replyError=redis.ResponseError, protocolError=redis.ConnectionError)
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(redis.ConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}"))

    def fail(self, exc: redis.RedisError) -> None:
        """Fail every call in flight and close: nothing read after a failure can be trusted."""
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiting, self.waiting = self.waiting, deque()
        for fut in waiting:
            if not fut.done():
                fut.set_exception(exc)
        if self.transport is not None:
            self.transport.close()  # a late reply must never be taken for another call's

    def call(self, packed: bytes) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            fut.set_exception(redis.ConnectionError("connection to Redis is closed"))
            return fut
        self.waiting.append(fut)
        self.transport.write(packed)
        if self.timer is None:
            self._arm()
        return fut

    def _arm(self) -> None:
        """Watch the oldest call: one timer per connection, not one per call."""
        oldest = self.waiting[0]
        self.timer = asyncio.get_running_loop().call_later(self.timeout_s, self._expired, oldest)

    def _expired(self, oldest: asyncio.Future[Any]) -> None:
        self.timer = None
        if self.waiting and self.waiting[0] is oldest:
            self.fail(redis.TimeoutError(f"no reply from Redis within {self.timeout_s:g} s"))
        elif self.waiting:
            self._arm()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiting:
            try:
                reply = self.reader.gets()
            except redis.ConnectionError as exc:  # the stream is unreadable
                self.fail(exc)
                return
            if reply is False:
                return
            fut = self.waiting.popleft()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
                if self.waiting:
                    self._arm()
            if fut.done():  # its caller was cancelled; the reply still had to be consumed
                continue
            if isinstance(reply, redis.ResponseError):
                fut.set_exception(_error(reply))
            else:
                fut.set_result(reply)


def _error(reply: redis.ResponseError) -> redis.RedisError:
    """redis-py's type for an error reply. ``LOADING`` (a restarted Redis replaying its append-only
    file) is redis-py's ``BusyLoadingError``, a ``ConnectionError``: the store is unavailable for
    now, so callers answer "retry later" (503), not an internal error (the soak saw 500s)."""
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    if message.startswith("LOADING"):
        return redis.exceptions.BusyLoadingError(message)
    return reply


def _pack(args: tuple[Any, ...]) -> bytes:
    """A RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n" % len(arg))
        out.append(arg)
        out.append(b"\r\n")
    return b"".join(out)
