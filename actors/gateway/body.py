"""Reading a request body under the size cap, from ASGI ``receive`` (webhooks) or a Starlette request."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The request body is over ``max_body_bytes``."""


async def read_body(declared: str | None, receive: Receive, limit: int) -> bytes:
    """The raw body, refusing (``BodyTooLarge``) as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the cap is refused before reading anything; a chunked or
    understated body is refused at the first chunk past the cap, so at most ``limit`` bytes plus one
    chunk are ever held. The server discards the unread rest.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_capped(request: Request, limit: int) -> bytes:
    """``read_body`` for a Starlette request (the admin API)."""
    return await read_body(request.headers.get("content-length"), request.receive, limit)
