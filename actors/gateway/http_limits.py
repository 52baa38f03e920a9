"""HTTP/1.1 limits the gateway enforces itself: head size, header count, read deadlines, a connection cap.

uvicorn's httptools protocol buffers a request's head without bound (a 256 MB header raised the
gateway's RSS by 311 MB) and waits forever for a head or a body, so 1,100 idle sockets exhausted a
1,024-descriptor limit (issue 21, items 3 and 4). This subclass counts the bytes received until a
head completes and arms one deadline per connection phase:

- head (connect, or the first byte after keep-alive): ``header_timeout_s``, then 408;
- body (head complete, message not yet): ``body_timeout_s`` for the whole body, then 408 (a total,
  not a gap between chunks: one byte every few seconds would otherwise hold the slot for ever);
- keep-alive (answered, nothing received since): ``keepalive_timeout_s``, then a silent close.

At ``max_connections``, a new connection closes the connection idle longest (no request in the
application) with 503, so a sender cannot hold slots by connecting and sending nothing; only when
every slot carries a request in progress is the new connection itself answered 503 and closed.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FD_RESERVE = 256
"""Descriptors kept beyond the connection cap for everything else the process holds: Ray's
sockets and pipes, Redis pools, logs, and connections being refused. ``skusync serve`` with two
shards and one channel holds 45 when idle and 1,046 with 1,000 connections open
(``benchmarks/results/hostile.json``)."""

HEAD, BODY, APP, KEEPALIVE, CLOSED = "head", "body", "app", "keepalive", "closed"


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 16_384
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 1000

    @classmethod
    def of(cls, gateway: Any) -> HttpLimits:
        """The limits a ``[gateway]`` config section sets."""
        return cls(**{name: getattr(gateway, name) for name in cls.__dataclass_fields__})


def _answer(status: bytes, error: str) -> bytes:
    body = b'{"error":"' + error.encode() + b'"}'
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )  # fmt: skip


TOO_LARGE = _answer(b"431 Request Header Fields Too Large", "headers_too_large")
TIMEOUT = _answer(b"408 Request Timeout", "request_timeout")
BUSY = _answer(b"503 Service Unavailable", "too_many_connections").replace(
    b"connection: close", b"retry-after: 1\r\nconnection: close"
)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head over its limits."""


class Slots:
    """One server's connections: how many are open and which are idle, longest idle first."""

    def __init__(self) -> None:
        self.open = 0
        self.idle: OrderedDict[LimitedHttpToolsProtocol, None] = OrderedDict()
        self.counts = {"refused": 0, "evicted": 0, "too_large": 0, "head_timeouts": 0, "body_timeouts": 0}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol under ``limits`` (set per server by ``protocol_for``)."""

    limits = HttpLimits()
    slots = Slots()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = HEAD
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._refusal: bytes | None = None
        self._counted = False
        self._done_in_chunk = False

    # connection lifecycle
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        slots = self.slots
        if slots.open >= self.limits.max_connections and not self._evict_one():
            slots.counts["refused"] += 1
            self._close_with(BUSY)
            return
        slots.open += 1
        self._counted = True
        slots.idle[self] = None
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        self._cancel()
        self.slots.idle.pop(self, None)
        if self._counted:
            self._counted = False
            self.slots.open -= 1

    def _evict_one(self) -> bool:
        """Close the connection idle longest to make room; False when every slot is busy."""
        while self.slots.idle:
            victim, _ = self.slots.idle.popitem(last=False)
            if victim._idle():
                self.slots.counts["evicted"] += 1
                # only a request still being sent is answered; between requests there is none
                victim._close_with(BUSY if victim._phase == HEAD else None)
                return True
        return False

    def _idle(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _close_with(self, answer: bytes | None) -> None:
        self._release()
        self._phase = CLOSED
        if self.cycle is not None and not self.cycle.response_complete:
            # the application's receive() sees a disconnect and its late answer is dropped
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            if answer is not None:
                self.transport.write(answer)
            self.transport.close()

    # deadlines
    def _arm(self, seconds: float, then: Any) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, then)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self.slots.counts["head_timeouts"] += 1
        self._close_with(TIMEOUT)

    def _body_timed_out(self) -> None:
        self.slots.counts["body_timeouts"] += 1
        answered = self.cycle is not None and self.cycle.response_started
        self._close_with(None if answered else TIMEOUT)

    def _keepalive_expired(self) -> None:
        self._close_with(None)

    # reading
    def data_received(self, data: bytes) -> None:
        if self._phase == CLOSED:
            return  # refused or timed out: bytes still in flight are not parsed
        if self._phase == KEEPALIVE:
            self._phase = HEAD
            self._arm(self.limits.header_timeout_s, self._head_timed_out)
        self._unset_keepalive_if_required()
        self._done_in_chunk = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # served with ws="none": the gateway has no WebSocket
        except httptools.HttpParserError:
            if self._refusal is not None:
                self.slots.counts["too_large"] += 1
                self._close_with(self._refusal)
            elif self._phase != CLOSED:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._phase == HEAD:
            # A chunk that also finished the previous message holds some of its body: not counted,
            # so at most one chunk per answered request goes uncounted.
            if not self._done_in_chunk:
                self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self.slots.counts["too_large"] += 1
                self._close_with(TOO_LARGE)

    def on_message_begin(self) -> None:
        if self._phase in (APP, KEEPALIVE):  # a pipelined request: its head has a deadline too
            self._arm(self.limits.header_timeout_s, self._head_timed_out)
        self._phase = HEAD
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # httptools hands a head over whole when it ends inside one chunk: measure it as sent
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers) + 16
        if size > self.limits.max_header_bytes:
            self._refusal = TOO_LARGE
            raise _Refused
        self._head_bytes = 0
        self._phase = BODY
        self.slots.idle.pop(self, None)
        self._arm(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._done_in_chunk = True
        self._cancel()
        self._phase = APP
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            self._go_idle()  # answered before its body ended (413): now waiting for the next

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._unset_keepalive_if_required()  # uvicorn's own timer: ours below replaces it
        if self._phase == APP and self._idle() and not self.transport.is_closing():
            self._go_idle()

    def _go_idle(self) -> None:
        if self._phase == CLOSED:
            return
        self._phase = KEEPALIVE
        if self._counted:
            self.slots.idle[self] = None
            self.slots.idle.move_to_end(self)
        self._arm(self.limits.keepalive_timeout_s, self._keepalive_expired)


def protocol_for(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class of its own per server: the limits and the slot count are per server."""
    return type("GatewayHttpProtocol", (LimitedHttpToolsProtocol,), {"limits": limits, "slots": Slots()})


def fd_budget(limits: HttpLimits, reserve: int = FD_RESERVE) -> tuple[HttpLimits, str | None]:
    """The limits this process's descriptor limit can honour, and a warning when it cannot.

    Raises the soft ``RLIMIT_NOFILE`` towards the hard one when the cap needs it (allowed without
    privilege); if the hard limit is still short, the cap is lowered so that a full gateway refuses
    connections with 503 rather than failing every ``accept`` and Redis call with EMFILE.
    """
    need = limits.max_connections + reserve
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < need:
            target = need if hard == resource.RLIM_INFINITY else min(need, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    except (ValueError, OSError) as exc:
        print(f"skusync: could not raise the descriptor limit: {exc}", file=sys.stderr)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= need:
        return limits, None
    cap = max(1, soft - reserve)
    warning = (
        f"the descriptor limit (ulimit -n) is {soft}, below the {need} that gateway.max_connections = "
        f"{limits.max_connections} needs ({reserve} kept for Ray and Redis); serving at most {cap} "
        f"connections. Raise it (ulimit -n {need}, or LimitNOFILE= in a systemd unit)"
    )
    return HttpLimits(**{**limits.__dict__, "max_connections": cap}), warning
