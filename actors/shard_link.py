"""A direct TCP link from a gateway to a shard actor for ``apply_batch``, beside Ray's own calls.

Why: a Ray actor call costs its caller 0.8-0.9 ms of CPU on the 2-core EPYC development machine
(0.55 ms on the Xeon; Ray's core-worker threads, whatever the payload), and the shard about as
much again; an asyncio TCP round trip with the same payload costs the caller 0.12 ms. A gateway
flushes a Ray call per shard every few milliseconds, so those fixed costs were a third of its CPU.

What stays with Ray: creating, naming, placing and restarting the shards, and every other call.
The link only carries batches into the same ``SkuShard.apply_batch`` on the shard's event loop,
so decisions are serialised exactly as for a Ray call. A client learns a shard's address and a
per-activation token through a Ray call (``SkuShard.endpoint``); when a link fails the caller
falls back to a Ray call, which waits out a restart; a restarted shard has a new token and port,
so a stale link cannot reach it.

Who may talk to it (``actors.link_auth``): the shard listens on loopback only unless
``engine.link_host`` opens the node's address too (``listen_hosts``); a peer proves it holds the
token by answering a fresh random challenge with its HMAC, so the token never crosses the wire and
a recorded handshake is worth nothing on another connection; a peer that has not proved it within
``HANDSHAKE_TIMEOUT_S`` is dropped. After that, frames are capped at ``MAX_FRAME`` (an announced
size over it closes the connection before anything is read into memory), at most
``MAX_IN_FLIGHT`` requests of a connection run at once (the next frame is not read until one
finishes, so TCP holds the sender back), and a batch is checked (``check``, the shard passes
``actors.link_events.check_batch``) before the handler sees it. Frames are not encrypted: on the
node's address, the link relies on the cluster's network being private, as Ray's own ports do.

Frames: 4-byte big-endian length, then for a request an 8-byte id and the payload, for a reply
the 8-byte id, one status byte and the payload. Requests on one connection run concurrently and
are answered as they finish, matched by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from actors.link_auth import HANDSHAKE_TIMEOUT_S, LinkRefused, accept, greet

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024 * 1024
"""Larger frames close the connection. The largest batches sent are the gateway's (``gateway.
batch_max_events``, 512 by default) and reconciliation's backfills (500 events): about 0.3 KB an
event, so well under 1 MB; a batch of 10,000 events is about 3 MB. 16 MiB leaves room for events
with many lines without letting one frame cost the shard more than that."""
MAX_IN_FLIGHT = 32
"""Requests of one connection handled at once (a gateway keeps ``gateway.batch_max_inflight``, 8
by default, per shard); with ``MAX_FRAME`` this bounds what one connection holds to 512 MiB."""
CALL_TIMEOUT_S = 30.0
"""How long ``LinkClient.call`` waits for an answer: longer than a healthy shard takes, commits
included (its Redis client gives up after 10 s, and a failed commit is answered as a retryable
failure), so a shard that does not answer within it is treated as gone."""
OK, RETRY, FAILED = 0, 1, 2
"""Reply status: the handler's answer; a failure the caller may retry (fenced, store down); another."""
LOOPBACK = "127.0.0.1"
_LEN = struct.Struct(">I")
_ID = struct.Struct(">Q")
_REPLY = struct.Struct(">QB")

Handler = Callable[[bytes], Awaitable[bytes]]
Check = Callable[[bytes], Awaitable[None]]
"""Refuses a request's payload by raising ``ValueError`` (answered ``FAILED``), before the handler."""


class LinkDown(ConnectionError):
    """The link is closed or broke; requests in flight on it may or may not have been decided."""


class LinkTimeout(LinkDown):
    """No answer within the call's timeout; the link is closed (the shard is presumed hung)."""


class FrameTooLarge(LinkDown):
    """The payload is over ``MAX_FRAME``: nothing was sent (send it through Ray instead)."""


class LinkRetry(RuntimeError):
    """The shard answered with a retryable failure (it was fenced, or its store was unavailable)."""


class LinkFailed(RuntimeError):
    """The shard's handler (or the batch check) raised something else; the message is the shard's."""


async def _read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes:
    (size,) = _LEN.unpack(await reader.readexactly(4))
    if size > limit:
        raise ValueError(f"frame of {size} bytes is over the limit")
    return await reader.readexactly(size)


class LinkServer:
    """Serves ``handler`` to clients that prove they hold ``token``; ``retryable`` names retry-safe
    errors; ``check`` (if given) vets each payload first."""

    def __init__(
        self,
        handler: Handler,
        token: str,
        retryable: tuple[type[BaseException], ...],
        check: Check | None = None,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.handler, self.token, self.retryable, self.check = handler, token.encode(), retryable, check
        self.handshake_timeout_s, self.max_in_flight = handshake_timeout_s, max_in_flight
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str) -> int:
        """Accept connections on ``host`` at a free port; returns the port."""
        server = await asyncio.start_server(self._serve, host, 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def listen_all(self, link_host: str, node_ip: str) -> dict[str, int]:
        """Ports by address for ``listen_hosts(link_host, node_ip)``: loopback always; an address
        that cannot be bound is left out with a warning (callers on other nodes then use Ray)."""
        ports: dict[str, int] = {}
        for host in listen_hosts(link_host, node_ip):
            try:
                ports[host] = await self.listen(host)
            except OSError as exc:
                if host == LOOPBACK:
                    raise
                log.warning("shard link: cannot listen on %s (%s); other nodes use Ray calls", host, exc)
        return ports

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        slots = asyncio.Semaphore(self.max_in_flight)
        try:
            await accept(reader, writer, self.token, self.handshake_timeout_s)
            while True:
                await slots.acquire()  # a connection at its cap is not read: TCP holds the sender
                frame = await _read_frame(reader)
                task = asyncio.get_running_loop().create_task(self._answer(writer, frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(lambda _: slots.release())
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, LinkRefused, TimeoutError):
            pass  # the client left, failed the handshake or broke the protocol: requests in flight finish
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        if len(frame) < _ID.size:
            writer.close()  # no id to answer to: only a broken or hostile client sends this
            return
        (request_id,) = _ID.unpack_from(frame)
        payload = frame[_ID.size :]
        try:
            if self.check is not None:
                await self.check(payload)
            status, answer = OK, await self.handler(payload)
        except self.retryable as exc:
            status, answer = RETRY, str(exc).encode()
        except Exception as exc:
            status, answer = FAILED, f"{type(exc).__name__}: {exc}".encode()
        if not writer.is_closing():  # one write per frame: concurrent answers never interleave
            writer.write(_LEN.pack(_REPLY.size + len(answer)) + _REPLY.pack(request_id, status) + answer)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()


class LinkClient:
    """One connection to a shard's ``LinkServer``; ``call`` may be awaited concurrently."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        self._reader, self._writer = reader, writer
        self.call_timeout_s = call_timeout_s
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._next = 1
        self._closed = False
        self._pump = asyncio.get_running_loop().create_task(self._read_replies())

    @classmethod
    async def connect(
        cls, host: str, port: int, token: str, timeout_s: float = 2.0, call_timeout_s: float = CALL_TIMEOUT_S
    ) -> LinkClient:
        """Open the connection and answer the shard's challenge (a wrong token gets it closed,
        which the first call reports as ``LinkDown``)."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        try:
            await greet(reader, writer, token.encode(), timeout_s)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, call_timeout_s)

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, payload: bytes, timeout_s: float | None = None) -> bytes:
        """The handler's answer to ``payload`` within ``timeout_s`` (default ``call_timeout_s``);
        raises ``LinkDown`` (``LinkTimeout``, ``FrameTooLarge``), ``LinkRetry`` or ``LinkFailed``."""
        if self._closed:
            raise LinkDown("link closed")
        if _ID.size + len(payload) > MAX_FRAME:
            raise FrameTooLarge(f"a batch of {len(payload)} bytes is over the link's {MAX_FRAME}")
        request_id, self._next = self._next, self._next + 1
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._writer.write(_LEN.pack(_ID.size + len(payload)) + _ID.pack(request_id) + payload)
        limit = self.call_timeout_s if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            self._waiting.pop(request_id, None)
            error = LinkTimeout(f"no answer within {limit:g} s")
            self._fail_all(error)  # the others would wait out their timeouts on a hung shard too
            raise error from None
        finally:
            self._waiting.pop(request_id, None)

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
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, struct.error) as exc:
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


def listen_hosts(link_host: str, node_ip: str) -> list[str]:
    """Where a shard listens for ``engine.link_host``: ``"loopback"`` (the default) on 127.0.0.1
    only; ``"node"`` also on the node's address (what Ray reports: gateways on other nodes reach
    the shard there); an IP address also on that address."""
    extra = node_ip if link_host == "node" else None if link_host in ("loopback", LOOPBACK) else link_host
    return [LOOPBACK] if extra in (None, LOOPBACK) else [LOOPBACK, str(extra)]


def endpoint_of(hosts: dict[str, int], node_ip: str, token: str) -> dict[str, Any]:
    """What ``SkuShard.endpoint`` returns: ports by host, the shard's node address, its token."""
    return {"hosts": hosts, "node_ip": node_ip, "token": token}


def address_for(endpoint: dict[str, Any], my_node_ip: str) -> tuple[str, int]:
    """Loopback when the caller is on the shard's node (traffic stays on 127.0.0.1), else the
    shard's other address; ``ConnectionError`` when it listens on loopback only (``engine.link_host``)."""
    hosts: dict[str, int] = endpoint["hosts"]
    if my_node_ip == endpoint["node_ip"] and LOOPBACK in hosts:
        return LOOPBACK, hosts[LOOPBACK]
    if endpoint["node_ip"] in hosts:
        return endpoint["node_ip"], hosts[endpoint["node_ip"]]
    remote = [h for h in hosts if h != LOOPBACK]
    if not remote:
        raise ConnectionError("the shard's link listens on loopback only (engine.link_host): use Ray")
    return remote[0], hosts[remote[0]]
