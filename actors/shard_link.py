"""A direct TCP link from a gateway to a shard actor for ``apply_batch``, beside Ray's own calls.

Why: a Ray actor call costs its caller 0.8-0.9 ms of CPU on the 2-core EPYC development machine
(0.55 ms on the Xeon; Ray's core-worker threads, whatever the payload), and the shard about as
much again; an asyncio TCP round trip with the same payload costs the caller 0.12 ms. A gateway
flushes a Ray call per shard every few milliseconds, so those fixed costs were a third of its CPU.

What stays with Ray: creating, naming, placing and restarting the shards, and every other call.
The link only carries batches into the same ``SkuShard.apply_batch`` on the shard's event loop,
so decisions are serialised exactly as for a Ray call. A client learns a shard's address and a
per-activation token through a Ray call (``SkuShard.endpoint``); a connection that does not
present the token first is closed. When a link fails the caller falls back to a Ray call, which
waits out a restart; a restarted shard has a new token and port, so a stale link cannot reach it.

Frames: 4-byte big-endian length, then for a request an 8-byte id and the payload, for a reply
the 8-byte id, one status byte and the payload. Requests on one connection run concurrently and
are answered as they finish, matched by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import struct
from collections.abc import Awaitable, Callable
from typing import Any

MAX_FRAME = 256 * 1024 * 1024
"""Larger frames close the connection (a batch of 10,000 events is about 3 MB)."""
OK, RETRY, FAILED = 0, 1, 2
"""Reply status: the handler's answer; a failure the caller may retry (fenced, store down); another."""
_LEN = struct.Struct(">I")
_ID = struct.Struct(">Q")
_REPLY = struct.Struct(">QB")

Handler = Callable[[bytes], Awaitable[bytes]]


class LinkDown(ConnectionError):
    """The link is closed or broke; requests in flight on it may or may not have been decided."""


class LinkRetry(RuntimeError):
    """The shard answered with a retryable failure (it was fenced, or its store was unavailable)."""


class LinkFailed(RuntimeError):
    """The shard's handler raised something else; the message is the shard's."""


MAX_TOKEN_FRAME = 256
"""Before it has shown the token, a peer may send no more than this (no memory for strangers)."""


async def _read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes:
    (size,) = _LEN.unpack(await reader.readexactly(4))
    if size > limit:
        raise ValueError(f"frame of {size} bytes is over the limit")
    return await reader.readexactly(size)


class LinkServer:
    """Serves ``handler`` to clients that present ``token``; ``retryable`` names retry-safe errors."""

    def __init__(self, handler: Handler, token: str, retryable: tuple[type[BaseException], ...]) -> None:
        self.handler, self.token, self.retryable = handler, token.encode(), retryable
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str) -> int:
        """Accept connections on ``host`` at a free port; returns the port."""
        server = await asyncio.start_server(self._serve, host, 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not hmac.compare_digest(await _read_frame(reader, MAX_TOKEN_FRAME), self.token):
                return
            while True:
                frame = await _read_frame(reader)
                task = asyncio.get_running_loop().create_task(self._answer(writer, frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the client left, or broke the protocol: its requests in flight still finish
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        (request_id,) = _ID.unpack_from(frame)
        try:
            status, payload = OK, await self.handler(frame[_ID.size :])
        except self.retryable as exc:
            status, payload = RETRY, str(exc).encode()
        except Exception as exc:
            status, payload = FAILED, f"{type(exc).__name__}: {exc}".encode()
        if not writer.is_closing():  # one write per frame: concurrent answers never interleave
            writer.write(_LEN.pack(_REPLY.size + len(payload)) + _REPLY.pack(request_id, status) + payload)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()


class LinkClient:
    """One connection to a shard's ``LinkServer``; ``call`` may be awaited concurrently."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._next = 1
        self._closed = False
        self._pump = asyncio.get_running_loop().create_task(self._read_replies())

    @classmethod
    async def connect(cls, host: str, port: int, token: str, timeout_s: float = 2.0) -> LinkClient:
        """Open the connection and present the token (the server closes it if the token is wrong)."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        writer.write(_LEN.pack(len(token)) + token.encode())
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, payload: bytes) -> bytes:
        """The handler's answer to ``payload``; raises ``LinkDown``, ``LinkRetry`` or ``LinkFailed``."""
        if self._closed:
            raise LinkDown("link closed")
        request_id, self._next = self._next, self._next + 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._writer.write(_LEN.pack(_ID.size + len(payload)) + _ID.pack(request_id) + payload)
        return await future

    async def _read_replies(self) -> None:
        error: Exception = LinkDown("shard closed the link")
        try:
            while True:
                frame = await _read_frame(self._reader)
                request_id, status = _REPLY.unpack_from(frame)
                future = self._waiting.pop(request_id, None)
                if future is None or future.done():
                    continue  # its caller was cancelled
                body = frame[_REPLY.size :]
                if status == OK:
                    future.set_result(body)
                else:
                    kind = LinkRetry if status == RETRY else LinkFailed
                    future.set_exception(kind(body.decode(errors="replace")))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            error = LinkDown(f"link broke: {type(exc).__name__}")
        finally:
            self._fail_all(error)

    def _fail_all(self, error: Exception) -> None:
        self._closed = True
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error)
        self._writer.close()

    def abort(self) -> None:
        """Close the connection now; calls still waiting fail with ``LinkDown``."""
        self._pump.cancel()
        self._fail_all(LinkDown("link closed"))

    async def close(self) -> None:
        """``abort``, then wait for the reader to stop."""
        self.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


def endpoint_of(hosts: dict[str, int], node_ip: str, token: str) -> dict[str, Any]:
    """What ``SkuShard.endpoint`` returns: ports by host, the shard's node address, its token."""
    return {"hosts": hosts, "node_ip": node_ip, "token": token}


def address_for(endpoint: dict[str, Any], my_node_ip: str) -> tuple[str, int]:
    """Loopback when the caller is on the shard's node (traffic stays on 127.0.0.1), else the node IP."""
    hosts: dict[str, int] = endpoint["hosts"]
    if my_node_ip == endpoint["node_ip"] and "127.0.0.1" in hosts:
        return "127.0.0.1", hosts["127.0.0.1"]
    return endpoint["node_ip"], hosts[endpoint["node_ip"]]
