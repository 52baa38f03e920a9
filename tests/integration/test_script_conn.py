"""The shard's lean Redis connection against the real Redis: order, errors, lost connections, timeouts."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from engine.store.script_conn import ScriptConnection
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ECHO = "return ARGV[1]"
FAIL = "return redis.error_reply('FENCED stale shard epoch')"


def lean() -> ScriptConnection:
    conn = ScriptConnection.for_client(aioredis.Redis.from_url(REDIS_URL))
    assert conn is not None
    return conn


async def load(script: str) -> str:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        sha: str = await client.script_load(script)
        return sha
    finally:
        await client.aclose()


def test_pipelined_calls_each_get_their_own_reply() -> None:
    async def go() -> None:
        conn, sha = lean(), await load(ECHO)
        replies = await asyncio.gather(*(conn.evalsha(sha, 0, f"v{i}") for i in range(500)))
        assert replies == [f"v{i}".encode() for i in range(500)]
        assert conn.connects == 1  # one connection carried all of them
        conn.close()

    asyncio.run(go())


def test_error_replies_raise_redis_py_errors_and_the_connection_stays_usable() -> None:
    async def go() -> None:
        conn, echo, fail = lean(), await load(ECHO), await load(FAIL)
        with pytest.raises(redis.ResponseError, match="FENCED"):
            await conn.evalsha(fail, 0)
        with pytest.raises(redis.exceptions.NoScriptError):
            await conn.evalsha("0" * 40, 0)
        assert await conn.evalsha(echo, 0, b"after") == b"after"
        assert conn.connects == 1
        conn.close()

    asyncio.run(go())


def test_a_killed_connection_fails_the_call_in_flight_and_the_next_call_reconnects() -> None:
    async def go() -> None:
        conn, sha = lean(), await load(ECHO)
        my_id = await conn.call("CLIENT", "ID")
        blocked = asyncio.ensure_future(conn.call("BLPOP", "script-conn-test:never", 5))
        await asyncio.sleep(0.2)
        admin = aioredis.Redis.from_url(REDIS_URL)
        assert await admin.client_kill_filter(_id=my_id) == 1
        await admin.aclose()
        with pytest.raises(redis.ConnectionError):
            await blocked
        assert await conn.evalsha(sha, 0, "again") == b"again"
        assert conn.connects == 2
        conn.close()

    asyncio.run(go())


def test_a_late_reply_times_out_every_call_in_flight_and_is_never_taken_for_a_later_call() -> None:
    async def go() -> None:
        conn = ScriptConnection("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]), timeout_s=0.3)
        sha = await load(ECHO)
        late = asyncio.ensure_future(conn.call("BLPOP", "script-conn-test:never", 1))
        queued = asyncio.ensure_future(conn.evalsha(sha, 0, "queued"))
        for call in (late, queued):
            with pytest.raises(redis.TimeoutError):
                await call
        await asyncio.sleep(1.0)  # the BLPOP's nil reply would have arrived by now
        assert await conn.evalsha(sha, 0, "fresh") == b"fresh"
        assert conn.connects == 2
        conn.close()

    asyncio.run(go())


def test_database_and_password_come_from_the_client(redis_client: redis.Redis) -> None:
    async def go() -> None:
        client = aioredis.Redis.from_url("redis://127.0.0.1:6379/5")
        conn = ScriptConnection.for_client(client)
        assert conn is not None and conn.db == 5
        await conn.evalsha(await load("return 1"), 0)  # scripts are server-wide
        await conn.call("SET", "script-conn-test:db", "five")
        assert await client.get("script-conn-test:db") == b"five"
        await client.delete("script-conn-test:db")
        await client.aclose()
        conn.close()
        with_password = ScriptConnection.for_client(
            aioredis.Redis.from_url("redis://:wrong@127.0.0.1:6379/0")
        )
        assert with_password is not None
        with pytest.raises(redis.ResponseError):  # AUTH is sent; this server has no password set
            await with_password.call("PING")

    asyncio.run(go())


def test_other_transports_are_left_to_redis_py() -> None:
    assert ScriptConnection.for_client(aioredis.Redis.from_url("unix:///tmp/redis.sock")) is None
    assert ScriptConnection.for_client(aioredis.Redis.from_url("rediss://127.0.0.1:6380/0")) is None


def test_calls_waiting_for_a_connection_survive_the_connecting_caller_being_cancelled() -> None:
    async def go() -> None:
        conn, sha = lean(), await load(ECHO)
        first = asyncio.ensure_future(conn.evalsha(sha, 0, "first"))
        others = [asyncio.ensure_future(conn.evalsha(sha, 0, f"o{i}")) for i in range(3)]
        await asyncio.sleep(0)  # the first caller is connecting, the others wait for it
        first.cancel()
        assert await asyncio.gather(*others) == [b"o0", b"o1", b"o2"]
        with pytest.raises(asyncio.CancelledError):
            await first
        conn.close()

    asyncio.run(go())
