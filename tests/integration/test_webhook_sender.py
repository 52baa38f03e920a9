"""WebhookSender against a real uvicorn server over loopback: answers, keep-alive, and every failure mode."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from adapters.sim.core import serve_in_thread
from adapters.sim.webhook_sender import WebhookError, WebhookSender


async def echo(request: Request) -> Response:
    body = await request.body()
    seen = {"body": body.decode(), "topic": request.headers.get("x-topic"), "path": request.url.path}
    return Response(orjson.dumps(seen), status_code=int(request.query_params.get("status", "200")))


async def closing(request: Request) -> Response:
    return Response(b"bye", headers={"connection": "close"})


async def chunked(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    return StreamingResponse(parts())


async def slow(request: Request) -> Response:
    await asyncio.sleep(2.0)
    return Response(b"late")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/close", closing, methods=["POST"]),
            Route("/chunked", chunked, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )
    url, stop = serve_in_thread(app)
    yield url
    stop()


def test_posts_the_body_and_headers_and_reuses_one_connection(server: str) -> None:
    async def go() -> None:
        sender = WebhookSender(f"{server}/echo?status=201")
        answers = [await sender.post(f"sale-{i}".encode(), {"X-Topic": "orders/create"}) for i in range(3)]
        assert [status for status, _ in answers] == [201, 201, 201]
        assert [orjson.loads(body)["body"] for _, body in answers] == ["sale-0", "sale-1", "sale-2"]
        assert orjson.loads(answers[0][1])["topic"] == "orders/create"
        assert len(sender._idle) == 1  # three sequential posts, one kept-alive connection
        await sender.aclose()

    asyncio.run(go())


def test_concurrent_posts_each_get_their_own_answer(server: str) -> None:
    async def go() -> None:
        sender = WebhookSender(f"{server}/echo", max_connections=8)
        answers = await asyncio.gather(*(sender.post(str(i).encode(), {}) for i in range(50)))
        assert sorted(int(orjson.loads(body)["body"]) for _, body in answers) == list(range(50))
        assert 1 <= len(sender._idle) <= 8
        await sender.aclose()

    asyncio.run(go())


def test_connection_close_is_honoured(server: str) -> None:
    async def go() -> None:
        sender = WebhookSender(f"{server}/close")
        assert await sender.post(b"x", {}) == (200, b"bye")
        assert sender._idle == []
        assert (await sender.post(b"y", {}))[0] == 200  # a fresh connection

    asyncio.run(go())


def test_failures_raise_webhook_error_and_drop_the_connection(server: str) -> None:
    async def go() -> None:
        with pytest.raises(WebhookError, match="Content-Length"):
            await WebhookSender(f"{server}/chunked").post(b"x", {})
        timed = WebhookSender(f"{server}/slow", timeout_s=0.2)
        with pytest.raises(WebhookError, match="TimeoutError"):
            await timed.post(b"x", {})
        assert timed._idle == []
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(WebhookError):
            await WebhookSender(f"http://127.0.0.1:{port}/x").post(b"x", {})

    asyncio.run(go())


def test_only_plain_http_urls_are_accepted() -> None:
    for url in ("https://example.test/x", "ftp://h/x", "http:///nohost"):
        with pytest.raises(ValueError):
            WebhookSender(url)


def test_a_connection_the_server_closed_while_idle_is_not_a_failed_delivery() -> None:
    """A server that drops every connection after answering, without saying so (as uvicorn does to
    idle keep-alive connections): each post still succeeds, exactly once per request read."""

    async def go() -> None:
        requests_read = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal requests_read
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            requests_read += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = WebhookSender(f"http://127.0.0.1:{port}/w")
        answers = []
        for i in range(4):
            answers.append(await sender.post(str(i).encode(), {}))
            await asyncio.sleep(0.05)  # let the close arrive, as it does after an idle timeout
        assert answers == [(200, b"ok")] * 4
        assert requests_read == 4
        server.close()
        await server.wait_closed()

    asyncio.run(go())


def test_a_reused_connection_reset_before_the_answer_is_retried_once_on_a_new_one() -> None:
    async def go() -> None:
        served = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal served
            served += 1
            first_connection = served == 1
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                if first_connection and body == b"second":
                    writer.close()  # reads the request, closes without answering
                    return
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = WebhookSender(f"http://127.0.0.1:{port}/w")
        assert await sender.post(b"first", {}) == (200, b"first")
        assert await sender.post(b"second", {}) == (200, b"second")  # retried on connection 2
        assert served == 2
        server.close()
        await server.wait_closed()

    asyncio.run(go())
