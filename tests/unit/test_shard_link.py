"""The direct batch link over loopback: token, concurrent calls answered out of order, failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from actors.shard_link import LinkClient, LinkDown, LinkFailed, LinkRetry, LinkServer, address_for
from engine.store import StoreUnavailable

TOKEN = "t0ken"


async def handler(payload: bytes) -> bytes:
    if payload == b"down":
        raise StoreUnavailable("redis gone")
    if payload == b"bug":
        raise KeyError("oops")
    await asyncio.sleep(float(payload.decode()))  # the payload says how long to take
    return b"done " + payload


async def served() -> tuple[LinkServer, int]:
    server = LinkServer(handler, TOKEN, (StoreUnavailable,))
    return server, await server.listen("127.0.0.1")


@contextlib.asynccontextmanager
async def linked() -> AsyncIterator[LinkClient]:
    """A server and a client holding the right token, both closed afterwards."""
    server, port = await served()
    link = await LinkClient.connect("127.0.0.1", port, TOKEN)
    try:
        yield link
    finally:
        await link.close()
        await server.close()


def test_concurrent_calls_each_get_their_own_answer_whatever_the_order() -> None:
    async def run() -> list[bytes]:
        async with linked() as link:
            return await asyncio.gather(*(link.call(s.encode()) for s in ("0.05", "0", "0.02")))

    assert asyncio.run(run()) == [b"done 0.05", b"done 0", b"done 0.02"]


def test_a_wrong_token_gets_the_connection_closed_and_nothing_run() -> None:
    async def run() -> None:
        server, port = await served()
        link = await LinkClient.connect("127.0.0.1", port, "not-the-token")
        try:
            with pytest.raises(LinkDown):
                await asyncio.wait_for(link.call(b"0"), 5)
            assert link.closed
        finally:
            await server.close()

    asyncio.run(run())


def test_failures_come_back_as_retry_or_failed_and_the_link_stays_up() -> None:
    async def run() -> None:
        async with linked() as link:
            with pytest.raises(LinkRetry, match="redis gone"):
                await link.call(b"down")
            with pytest.raises(LinkFailed, match="KeyError"):
                await link.call(b"bug")
            assert await link.call(b"0") == b"done 0"

    asyncio.run(run())


def test_calls_in_flight_fail_with_link_down_when_the_shard_goes_away() -> None:
    async def run() -> None:
        async with linked() as link:
            pending = asyncio.ensure_future(link.call(b"5"))
            await asyncio.sleep(0.05)
            link._writer.transport.abort()  # the connection dies as it does when the shard's process does
            with pytest.raises(LinkDown):
                await asyncio.wait_for(pending, 5)
            with pytest.raises(LinkDown):
                await link.call(b"0")

    asyncio.run(run())


def test_callers_on_the_shards_node_use_loopback() -> None:
    endpoint = {"hosts": {"127.0.0.1": 5001, "10.0.0.7": 5002}, "node_ip": "10.0.0.7", "token": TOKEN}
    assert address_for(endpoint, "10.0.0.7") == ("127.0.0.1", 5001)
    assert address_for(endpoint, "10.0.0.8") == ("10.0.0.7", 5002)


def test_a_stranger_cannot_make_the_shard_hold_a_large_frame_before_the_token() -> None:
    async def run() -> bytes:
        server, port = await served()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write((64 * 1024 * 1024).to_bytes(4, "big"))  # announces 64 MiB instead of a token
            return await asyncio.wait_for(reader.read(), 5)  # closed at once: EOF, nothing read
        finally:
            writer.close()
            await server.close()

    assert asyncio.run(run()) == b""
