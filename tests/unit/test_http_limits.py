"""The gateway's HTTP limits on a tiny app over loopback: head size and count, deadlines, the cap."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.gateway.http_limits import FD_RESERVE, HttpLimits, fd_budget
from actors.gateway.server import BackgroundServer
from engine.config import ConfigError, load_config
from tests.raw_http import read_to_eof, status

HANG_S = 10.0  # a hang detector, never a performance bound


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


APP = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])
QUICK = HttpLimits(header_timeout_s=0.5, body_timeout_s=0.5, keepalive_timeout_s=0.5, max_connections=8)


@pytest.fixture
def quick() -> Iterator[BackgroundServer]:
    with BackgroundServer(APP, limits=QUICK) as server:
        yield server


def connect(server: BackgroundServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=HANG_S)


def get(server: BackgroundServer) -> bytes:
    sock = connect(server)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return read_to_eof(sock)


def stream_head(sock: socket.socket, total: int) -> int:
    """Send a request whose one header grows to ``total`` bytes; returns what the server took."""
    sent = 0
    try:
        sock.sendall(b"GET /echo HTTP/1.1\r\nX-Big: ")
        while sent < total:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_a_head_over_the_cap_is_431_and_the_connection_closes(quick: BackgroundServer) -> None:
    sock = connect(quick)
    sent = stream_head(sock, 8 << 20)
    answer = read_to_eof(sock)
    assert status(answer) == 431 and b"connection: close" in answer
    assert sent < 8 << 20  # the server closed long before the 8 MB were out


def test_a_long_head_in_one_piece_and_too_many_headers_are_431(quick: BackgroundServer) -> None:
    sock = connect(quick)
    sock.sendall(b"GET /echo HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert status(read_to_eof(sock)) == 431
    sock = connect(quick)
    sock.sendall(b"GET /echo HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(101)) + b"\r\n")
    assert status(read_to_eof(sock)) == 431
    sock = connect(quick)  # the limit itself is allowed
    sock.sendall(b"GET /echo HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(99)) + b"\r\n")
    assert status(read_to_eof(sock)) == 200


@pytest.mark.parametrize("sent", [b"", b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: "])
def test_a_head_not_finished_in_time_gets_408_and_is_closed(quick: BackgroundServer, sent: bytes) -> None:
    sock = connect(quick)
    started = time.monotonic()
    sock.sendall(sent)
    answer = read_to_eof(sock)
    assert status(answer) == 408
    assert time.monotonic() - started >= 0.4  # closed by the deadline, not at once


def test_a_body_not_finished_in_time_gets_408_and_is_closed(quick: BackgroundServer) -> None:
    sock = connect(quick)
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nonly-a-little")
    assert status(read_to_eof(sock)) == 408


def test_body_bytes_are_not_head_bytes_and_keep_alive_is_reused_then_closed(quick: BackgroundServer) -> None:
    with httpx.Client(base_url=quick.url, timeout=HANG_S) as client:
        body = b"x" * 1_000_000  # far over max_header_bytes, in many reads
        for _ in range(3):
            assert client.post("/echo", content=body).json() == {"bytes": len(body)}
        assert len(list(quick.server.server_state.connections)) == 1  # one connection, reused
    sock = connect(quick)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
    answer = read_to_eof(sock)  # answered, then closed silently when keep-alive runs out
    assert status(answer) == 200 and answer.count(b"HTTP/1.1") == 1


def test_pipelined_requests_are_all_answered(quick: BackgroundServer) -> None:
    sock = connect(quick)
    one = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    sock.sendall(one * 3 + b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert read_to_eof(sock).count(b"HTTP/1.1 200 OK") == 4


def test_at_the_cap_the_longest_idle_connection_makes_room() -> None:
    limits = HttpLimits(header_timeout_s=HANG_S * 3, max_connections=8)  # no 408 may come first
    with BackgroundServer(APP, limits=limits) as server:
        idle = [connect(server) for _ in range(12)]
        assert status(get(server)) == 200
        answers = [read_to_eof(sock) for sock in idle[:5]]  # the oldest went first, told why
        assert [status(a) for a in answers] == [503] * 5
        assert b"retry-after: 1" in answers[0]
        for sock in idle[5:]:
            sock.close()


def test_at_the_cap_with_every_slot_busy_a_new_connection_gets_503() -> None:
    limits = HttpLimits(body_timeout_s=HANG_S * 3, max_connections=4)
    with BackgroundServer(APP, limits=limits) as server:
        busy = [connect(server) for _ in range(4)]
        for sock in busy:  # each has a request in progress: its body is still coming
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        slots = server.server.config.http_protocol_class.slots  # type: ignore[attr-defined]
        deadline = time.monotonic() + HANG_S
        while slots.idle and time.monotonic() < deadline:  # the heads reach the server
            time.sleep(0.01)
        answer = get(server)
        assert status(answer) == 503 and b"too_many_connections" in answer
        for sock in busy:  # the requests in progress are still served
            sock.sendall(b"cdefghij")
            assert status(sock.recv(65536)) == 200
            sock.close()
        assert status(get(server)) == 200


def test_fd_budget_raises_the_soft_limit_or_lowers_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = HttpLimits(max_connections=1000)
    state = {"soft": 1024, "hard": 4096}
    monkeypatch.setattr(resource, "getrlimit", lambda _: (state["soft"], state["hard"]))
    monkeypatch.setattr(resource, "setrlimit", lambda _, v: state.update(soft=v[0]))
    assert fd_budget(limits) == (limits, None) and state["soft"] == 1000 + FD_RESERVE
    state.update(soft=1024, hard=1024)
    lowered, warning = fd_budget(limits)
    assert lowered.max_connections == 1024 - FD_RESERVE
    assert warning is not None and "ulimit -n" in warning and "gateway.max_connections" in warning


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_CONNECTIONS", "0"),
        ("MAX_HEADER_BYTES", "100"),
        ("HEADER_TIMEOUT_S", "0"),
        ("BODY_TIMEOUT_S", "-1"),
    ],
)
def test_bad_limits_are_refused_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env={f"SKUSYNC_GATEWAY_{key}": value})
    assert err.value.key == f"gateway.{key.lower()}"


def test_limits_come_from_the_gateway_section() -> None:
    config = load_config(
        env={"SKUSYNC_GATEWAY_MAX_CONNECTIONS": "20", "SKUSYNC_GATEWAY_HEADER_TIMEOUT_S": "0.5"}
    )
    limits = HttpLimits.of(config.gateway)
    assert (limits.max_connections, limits.header_timeout_s, limits.max_header_bytes) == (20, 0.5, 16_384)
