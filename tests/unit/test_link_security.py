"""The shard link's defences against strangers and hung shards (issue 19, item 3).

Each server or client setting is set as an attribute after construction, so that the same test
runs against a link that lacks the defence (it then fails by the defect, not by a missing name).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from actors.shard_link import (
    MAX_FRAME,
    FrameTooLarge,
    LinkClient,
    LinkDown,
    LinkServer,
    address_for,
    listen_hosts,
)

TOKEN = "s3cret-t0ken-of-this-activation"
WAIT_S = 10.0
"""Bound on waiting for what must happen at once (a failure, never a measure of speed)."""


async def echo(payload: bytes) -> bytes:
    return b"done " + payload


@contextlib.asynccontextmanager
async def served(server: LinkServer) -> AsyncIterator[int]:
    try:
        yield await server.listen("127.0.0.1")
    finally:
        await server.close()


async def closed_by_peer(reader: asyncio.StreamReader) -> bytes:
    """Everything the peer sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT_S)


def test_a_peer_that_never_proves_itself_is_dropped_after_the_handshake_timeout() -> None:
    async def run() -> bytes:
        server = LinkServer(echo, TOKEN, ())
        server.handshake_timeout_s = 0.2
        async with served(server) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                return await closed_by_peer(reader)  # connected, silent: nothing but the close
            finally:
                writer.close()

    assert asyncio.run(run()) == b""


def test_the_token_never_crosses_the_wire() -> None:
    """What a client sends on connecting, recorded by a listener that plays the shard's part."""
    heard = bytearray()

    async def shard_part(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.extend(await reader.read(4096))  # the greeting (or, without the defence, the token)
        writer.write((32).to_bytes(4, "big") + b"c" * 32)  # a challenge, for a client that waits for one
        with contextlib.suppress(TimeoutError):
            heard.extend(await asyncio.wait_for(reader.read(4096), 1.0))
        writer.close()

    async def run() -> None:
        listener = await asyncio.start_server(shard_part, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            link = await LinkClient.connect("127.0.0.1", port, TOKEN)
            await asyncio.wait_for(link._pump, WAIT_S)  # the listener has closed: all was heard
        finally:
            listener.close()

    asyncio.run(run())
    assert heard and TOKEN.encode() not in bytes(heard)


class Recorder:
    """A TCP relay in front of the shard's port that records what the client sends."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.sent = target_port, bytearray()

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            while data := await src.read(65536):
                if record:
                    self.sent.extend(data)
                dst.write(data)
            dst.close()

        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


def test_a_recorded_handshake_does_not_open_another_connection() -> None:
    async def run() -> bytes:
        async with served(LinkServer(echo, TOKEN, ())) as port:
            recorder = Recorder(port)
            relay = await asyncio.start_server(recorder.relay, "127.0.0.1", 0)
            link = await LinkClient.connect("127.0.0.1", relay.sockets[0].getsockname()[1], TOKEN)
            assert await asyncio.wait_for(link.call(b"hello"), WAIT_S) == b"done hello"
            await link.close()
            relay.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(bytes(recorder.sent))  # the genuine client's bytes, replayed as they were
                return await closed_by_peer(reader)
            finally:
                writer.close()

    answered = asyncio.run(run())
    assert b"done hello" not in answered  # the replayed request was never run


def test_a_wrong_answer_to_the_challenge_gets_the_connection_closed_and_nothing_run() -> None:
    ran: list[bytes] = []

    async def handler(payload: bytes) -> bytes:
        ran.append(payload)
        return payload

    async def run() -> None:
        async with served(LinkServer(handler, TOKEN, ())) as port:
            link = await LinkClient.connect("127.0.0.1", port, "a-guess-at-the-token")
            with pytest.raises(LinkDown):
                await asyncio.wait_for(link.call(b"x"), WAIT_S)

    asyncio.run(run())
    assert ran == []


def test_a_frame_announcing_256_mib_closes_the_connection_before_its_body_is_awaited() -> None:
    async def run() -> None:
        async with served(LinkServer(echo, TOKEN, ())) as port:
            link = await LinkClient.connect("127.0.0.1", port, TOKEN)
            assert await asyncio.wait_for(link.call(b"a"), WAIT_S) == b"done a"  # proved and served
            link._writer.write((256 * 1024 * 1024).to_bytes(4, "big"))  # the size alone, no body
            await asyncio.wait_for(link._pump, WAIT_S)  # the shard closed the link at once
            assert link.closed

    asyncio.run(run())


def test_requests_in_flight_on_one_connection_are_bounded() -> None:
    gate = asyncio.Event()
    active, most, started = 0, 0, 0
    two_started = asyncio.Event()

    async def handler(payload: bytes) -> bytes:
        nonlocal active, most, started
        active, started = active + 1, started + 1
        most = max(most, active)
        if started >= 2:
            two_started.set()
        await gate.wait()
        active -= 1
        return payload

    async def run() -> list[bytes]:
        server = LinkServer(handler, TOKEN, ())
        server.max_in_flight = 2
        async with served(server) as port:
            link = await LinkClient.connect("127.0.0.1", port, TOKEN)
            calls = [asyncio.ensure_future(link.call(str(i).encode())) for i in range(6)]
            await asyncio.wait_for(two_started.wait(), WAIT_S)
            other = await LinkClient.connect("127.0.0.1", port, TOKEN)  # turns of the loop meanwhile
            await other.close()
            gate.set()
            answers = await asyncio.wait_for(asyncio.gather(*calls), WAIT_S)
            await link.close()
            return answers

    assert asyncio.run(run()) == [str(i).encode() for i in range(6)]
    assert most == 2


def test_a_hung_shard_fails_the_call_within_the_call_timeout_and_closes_the_link() -> None:
    async def hang(payload: bytes) -> bytes:
        await asyncio.Event().wait()
        return payload

    async def run() -> LinkClient:
        async with served(LinkServer(hang, TOKEN, ())) as port:
            link = await LinkClient.connect("127.0.0.1", port, TOKEN)
            link.call_timeout_s = 0.2
            with pytest.raises(LinkDown):
                await asyncio.wait_for(link.call(b"stuck"), WAIT_S)
            return link

    assert asyncio.run(run()).closed


def test_shards_listen_on_loopback_unless_link_host_opens_another_address() -> None:
    assert listen_hosts("loopback", "10.0.0.7") == ["127.0.0.1"]
    assert listen_hosts("node", "10.0.0.7") == ["127.0.0.1", "10.0.0.7"]
    assert listen_hosts("10.0.0.9", "10.0.0.7") == ["127.0.0.1", "10.0.0.9"]
    assert listen_hosts("node", "127.0.0.1") == ["127.0.0.1"]


def test_a_caller_on_another_node_cannot_reach_a_loopback_only_shard_and_uses_ray() -> None:
    loopback_only = {"hosts": {"127.0.0.1": 5001}, "node_ip": "10.0.0.7", "token": TOKEN}
    assert address_for(loopback_only, "10.0.0.7") == ("127.0.0.1", 5001)
    with pytest.raises(ConnectionError, match="loopback only"):
        address_for(loopback_only, "10.0.0.8")
    explicit = {"hosts": {"127.0.0.1": 5001, "10.0.0.9": 5002}, "node_ip": "10.0.0.7", "token": TOKEN}
    assert address_for(explicit, "10.0.0.8") == ("10.0.0.9", 5002)


def test_a_batch_over_the_frame_cap_is_not_sent() -> None:
    async def run() -> None:
        async with served(LinkServer(echo, TOKEN, ())) as port:
            link = await LinkClient.connect("127.0.0.1", port, TOKEN)
            with pytest.raises(FrameTooLarge):
                await link.call(b"x" * MAX_FRAME)
            assert await asyncio.wait_for(link.call(b"small"), WAIT_S) == b"done small"  # still open
            await link.close()

    asyncio.run(run())
