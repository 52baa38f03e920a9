"""A commit abandoned on a client timeout runs in Redis after the shard has reloaded.

``ScriptConnection`` gives up on a commit whose reply is later than its timeout and closes the
connection; the shard then reloads before deciding again. Redis may still run that commit: its
bytes were sent, and Redis runs whatever it has read from a socket even if the client has hung up
since. If it runs after the reload, memory is behind Redis and the shard's next commit of the same
SKU overwrites it, while the late commit's idempotency record says "accepted": units sold twice.
The reload must therefore fence: take a new epoch first, so that the late commit's owner check
fails and it writes nothing.

How the late commit is made, deterministically. ``CLIENT PAUSE <ms> WRITE`` (tried on Redis
7.0.15) does hold EVALSHA while HGETALL is served, but Redis frees a paused client as soon as it
closes its connection and drops the command it held: the abandoned commit never runs, so the pause
shows nothing. ``DEBUG SLEEP`` (or a long script on another connection) does keep the bytes until
Redis is free and then runs them, but it also holds the reload, and which of the two Redis reads
first after the sleep is up to the kernel's event order. So the test puts a relay of its own
between the shard and Redis (``DelayLine``), as a congested network would be: it holds the bytes of
one commit, the shard times out and reloads through the relay, and only then does the test let the
held bytes reach Redis, waiting for Redis's reply to them. Nothing depends on how long anything
takes: the client timeout is certain to fire (the bytes are held until the test releases them) and
every later step waits for the event it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from hashlib import sha1
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from engine import idempotency
from engine.records import SkuRecord
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import Keys, StoreUnavailable, idem_layout
from tests.fault.invariants import as_answered
from tests.fault.private_redis import PrivateRedis

pytestmark = pytest.mark.fault

SMAP = ShardMap(1, vshards=16)
KEYS = Keys("fence")
TIMEOUT_S = 0.5
INITIAL = 10
COMMIT_SHA = sha1(resources.files("engine.store").joinpath("commit.lua").read_text().encode()).hexdigest()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path, "--appendonly", "no")
    server.start()
    yield server
    server.kill()


class DelayLine:
    """A TCP relay to Redis that can hold back the bytes of one command until it is released.

    ``hold_next(marker)``: the first connection whose bytes contain ``marker`` from then on has
    them, and every later byte it sends, kept here instead of sent. Its client may time out and
    hang up; the relay keeps its own connection to Redis open, so ``release`` can still deliver the
    held bytes, as a slow network delivers a packet its sender no longer waits for.
    """

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self.marker: bytes | None = None
        self.held = bytearray()
        self.caught = asyncio.Event()
        self.late_reply = bytearray()
        self._replied = asyncio.Event()
        self._held_to_redis: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[Any]] = set()

    async def start(self) -> DelayLine:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._relays, return_exceptions=True)

    def hold_next(self, marker: bytes) -> None:
        self.marker = marker

    async def release(self) -> bytes:
        """Send the held bytes to Redis and return its reply to them (one RESP line)."""
        assert self._held_to_redis is not None and self.held, "nothing was held"
        self._held_to_redis.write(bytes(self.held))
        await self._held_to_redis.drain()
        await asyncio.wait_for(self._replied.wait(), 10)
        return bytes(self.late_reply)

    async def _relay(self, from_client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        from_redis, to_redis = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers |= {to_client, to_redis}
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        holding = False

        async def upstream() -> None:
            nonlocal holding
            tail = b""  # the marker may straddle two reads
            while chunk := await from_client.read(65536):
                if not holding and self.marker is not None:
                    if self.marker in tail + chunk:
                        holding, self.marker = True, None
                        self._held_to_redis = to_redis
                        self.caught.set()
                    tail = chunk[1 - len(self.marker) :] if self.marker else b""
                if holding:
                    self.held += chunk
                else:
                    to_redis.write(chunk)
            if not holding:  # the client hung up: so does the relay, unless it holds its bytes
                to_redis.close()

        async def downstream() -> None:
            while chunk := await from_redis.read(65536):
                if holding:  # the reply to the held bytes: its client has gone
                    self.late_reply += chunk
                    if self.late_reply.endswith(b"\r\n"):
                        self._replied.set()
                else:
                    to_client.write(chunk)
            to_client.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


def order(key: str, quantity: int) -> dict[str, Any]:
    return {
        "kind": "order_placed",
        "key": key,
        "channel": "c",
        "order_id": key,
        "lines": [{"sku": "A", "quantity": quantity}],
    }


async def answered(core: ShardCore, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions for ``events``, re-sent on ``StoreUnavailable`` as ``ShardClient`` does."""
    for _ in range(20):
        try:
            return (await core.apply_batch(events)).decisions
        except StoreUnavailable:
            continue
    raise AssertionError("the shard never answered")


def test_commit_abandoned_on_timeout_cannot_land_after_the_reload(private_redis: PrivateRedis) -> None:
    async def go() -> list[str]:
        relay = await DelayLine(private_redis.port).start()
        client = aioredis.Redis(host="127.0.0.1", port=relay.port, socket_timeout=TIMEOUT_S)
        try:
            core = await ShardCore(0, SMAP, client, KEYS).start()
            return await late_commit(core, relay, redis.Redis.from_url(private_redis.url))
        finally:
            await relay.aclose()
            await client.aclose()

    problems = asyncio.run(go())
    assert not problems, "\n".join(problems)


async def late_commit(core: ShardCore, relay: DelayLine, direct: redis.Redis) -> list[str]:
    """Run the scenario; return what went wrong (all of it, so a failure shows every figure)."""
    acked: dict[str, dict[str, Any]] = {}
    sent: list[str] = []

    async def send(events: list[dict[str, Any]]) -> None:
        sent.extend(e["key"] for e in events if e["key"] not in sent)
        acked.update(zip((e["key"] for e in events), await answered(core, events), strict=True))

    await send([{"kind": "stock_set", "key": "seed", "sku": "A", "quantity": INITIAL}])

    # o1's commit reaches the relay and stays there; the shard gives up on it.
    relay.hold_next(COMMIT_SHA.encode())
    sent.append("o1")
    while not relay.caught.is_set():  # a read timed out first (a loaded machine): send again
        with pytest.raises(StoreUnavailable):
            await core.apply_batch([order("o1", 1)])
    # The next batch finds the shard stale: it reloads, then decides and commits o2.
    await send([order("o2", 2)])
    # Only now does Redis get o1's commit.
    late_reply = await relay.release()

    problems = []
    in_memory, in_redis = dict(core.ledger.records), await core.store.load()
    if in_memory != in_redis:
        problems.append(f"after the late commit: memory {in_memory} != Redis {in_redis}")

    # o1 was never answered: its client sends it again, with a new order.
    await send([order("o1", 1), order("o3", 1)])

    in_memory, in_redis = dict(core.ledger.records), await core.store.load()
    if in_memory != in_redis:
        problems.append(f"at the end: memory {in_memory} != Redis {in_redis}")
    vs = SMAP.vshard("A")
    stored = {k: idem_layout.read(direct, KEYS.idem_registry(), k) for k in sent}
    for k, d in acked.items():
        raw = stored[k]
        if raw is None or as_answered(raw, d) != {str(vs): d}:
            problems.append(f"acknowledged {k} is not in Redis as answered: {raw!r}")
    # every stored answer, decoded against its event (the record leaves the event's fields out)
    accepted = sum(
        line["accepted"]
        for k, raw in stored.items()
        if raw is not None and k != "seed"
        for line in idempotency.decode(idempotency.parse(raw)[1][str(vs)], order(k, 1))["lines"]
    )
    raw_a = direct.hget(KEYS.stock(vs), "A")
    available = SkuRecord.decode(raw_a).available if raw_a is not None else None
    if available != INITIAL - accepted:
        problems.append(f"unconserved: {INITIAL} - {accepted} accepted (idempotency) != {available} in stock")
    if not late_reply.startswith(b"-FENCED"):
        problems.append(f"Redis ran the late commit: it answered {late_reply!r}, not FENCED")
    return problems
