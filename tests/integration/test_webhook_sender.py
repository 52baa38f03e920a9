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

from adapters.sim_core import serve_in_thread
from adapters.webhook_sender import WebhookError, WebhookSender


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
