"""``WebhookSender``: the simulators' webhook delivery, POSTs over a pool of kept-alive HTTP/1.1 connections.

A marketplace simulator sends one small POST per sale and needs the status and body back, nothing
else. httpx spent about 1.2 ms of CPU per such request here (16 concurrent POSTs to a local uvicorn
app; this client: 40 µs), which in the propagation benchmark made the shoppers' own process the
busiest on the machine and delayed the very webhooks whose lag it measures. This client writes
the request in one buffer and reads a ``Content-Length`` answer with asyncio streams. Plain
``http://`` only: simulators talk to a gateway on loopback; anything else should use httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

IDLE_S = 4.0
"""Idle connections older than this are not reused: uvicorn closes them after 5 s by default."""


class _Unanswered(Exception):
    """A reused connection closed before any byte of the answer: the request was not read."""


class WebhookError(OSError):
    """The request could not be sent or its answer not read (connection refused, reset, timeout,
    or an answer this client does not parse); whether the gateway acted on it is unknown."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WebhookSender:
    """POSTs to one ``http://host:port/path`` URL; at most ``max_connections`` at a time.

    Each request gets an idle kept-alive connection or a new one; a connection that failed, timed
    out or was told ``Connection: close`` is dropped, never reused. Servers close connections left
    idle (uvicorn after 5 s), so an idle one older than ``IDLE_S`` or already closed by the peer is
    not reused, and a reused one that fails before any answer arrives is retried once on a new
    connection (the server closed it unread; a duplicate webhook is harmless, the gateway is
    idempotent). Otherwise no retries: a failed delivery is the caller's to record, as a
    marketplace records a failed webhook.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, max_connections: int = 64) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"WebhookSender needs an http://host[:port]/path URL, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout_s = timeout_s
        self._idle: list[tuple[_Conn, float]] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Send ``body`` with ``headers``; return the answer's status and body or raise ``WebhookError``."""
        async with self._slots:
            conn = self._reusable()
            if conn is not None:
                try:
                    return await self._attempt(conn, body, headers)
                except _Unanswered:
                    pass  # the server had closed it: once more on a new connection
            return await self._attempt(None, body, headers)  # a new connection never raises _Unanswered

    def _reusable(self) -> _Conn | None:
        """The most recently used idle connection still worth trying; older or closed ones are closed."""
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if now - since < IDLE_S and not conn[0].at_eof() and not conn[1].is_closing():
                return conn
            conn[1].close()
        return None

    async def _attempt(
        self, conn: _Conn | None, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        fresh = conn is None
        try:
            async with asyncio.timeout(self.timeout_s):
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                status, answer, keep = await self._exchange(conn, body, headers)
        except asyncio.IncompleteReadError as exc:
            if conn is not None:
                conn[1].close()
            if exc.partial or fresh:
                raise WebhookError(f"IncompleteReadError: {exc}") from exc
            raise _Unanswered(f"connection closed before an answer: {exc}") from exc
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            if conn is not None:
                conn[1].close()
            if isinstance(exc, ConnectionError) and not fresh:
                raise _Unanswered(f"{type(exc).__name__}: {exc}") from exc
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
        if keep:
            self._idle.append((conn, time.monotonic()))
        else:
            conn[1].close()
        return status, answer

    async def _exchange(
        self, conn: _Conn, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(self._request(body, headers))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, fields = _parse_head(head)
        if status in (204, 304):
            return status, b"", fields.get("connection", "").lower() != "close"
        if "content-length" not in fields:
            raise ValueError("answer without Content-Length (chunked answers are not supported)")
        try:
            answer = await reader.readexactly(int(fields["content-length"]))
        except asyncio.IncompleteReadError as exc:  # answered in part: not a request left unread
            raise ValueError(f"answer body cut short after {len(exc.partial)} bytes") from exc
        return status, answer, fields.get("connection", "").lower() != "close"

    def _request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def aclose(self) -> None:
        """Close every idle connection (requests in progress close theirs when they finish)."""
        idle, self._idle = [conn for conn, _ in self._idle], []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased header fields of an HTTP/1.1 answer head; ValueError if malformed."""
    status_line, *rest = head.decode("latin-1").split("\r\n")
    version, _, tail = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
    status = int(tail[:3])
    fields = {}
    for line in rest:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    return status, fields
