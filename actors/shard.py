"""``SkuShard``: the Ray actor that owns the SKUs of its virtual shards (a thin shell over ``ShardCore``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from typing import Any

import orjson
import ray
import redis.asyncio as aioredis

from actors.fanout import ChannelFanout
from actors.link_events import check_batch
from actors.names import NAMESPACE
from actors.shard_link import LinkServer, endpoint_of
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import FencedError, Keys, OrderWindows, StoreUnavailable
from engine.wire import decode_events

log = logging.getLogger(__name__)


def _report_start_failure(task: asyncio.Task[ShardCore]) -> None:
    """Log a failed start (and mark its exception retrieved); the next call starts again."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("shard start failed: %s; the next call retries", task.exception())


@ray.remote(num_cpus=0)
class SkuShard:
    """Owner of every SKU in the vshards ``ShardMap.owned(shard)``.

    An async actor: every call runs on one event loop, and the decision step of a batch contains
    no ``await``, so decisions are serialised without locks while reads and commits of
    neighbouring batches overlap. Created named, detached, ``get_if_exists`` and with
    ``max_restarts=-1`` by ``actors.runtime``; Ray re-runs ``__init__`` after a crash, which fences
    the previous activation and reloads every owned SKU from Redis.
    """

    def __init__(
        self,
        shard: int,
        shards: int,
        vshards: int,
        redis_url: str,
        key_prefix: str,
        idem_ttl_s: int,
        audit_maxlen: int,
        channel_actors: dict[str, str] | None = None,
        link_host: str = "loopback",
        order_windows: dict[str, Any] | None = None,
    ) -> None:
        client = aioredis.Redis.from_url(redis_url, socket_timeout=10, health_check_interval=30)
        self.core = ShardCore(
            shard,
            ShardMap(shards, vshards),
            client,
            Keys(key_prefix),
            idem_ttl_s=idem_ttl_s,
            audit_maxlen=audit_maxlen,
            windows=OrderWindows.of(order_windows),
        )
        self.fanout = ChannelFanout(channel_actors or {}, NAMESPACE)
        """Channel id -> actor name of every channel actor that mirrors this shard's SKUs."""
        self._started: asyncio.Task[ShardCore] | None = None
        self.link = LinkServer(
            self.apply_batch, secrets.token_hex(16), (FencedError, StoreUnavailable), check=check_batch
        )
        """Direct batch link for gateways (``actors.shard_link``), with this activation's token."""
        self.link_host = link_host
        """Where the link listens besides loopback (``engine.link_host``)."""
        self._endpoint: dict[str, Any] | None = None
        # Start now, not at the first call: after a crash, changes the previous activation
        # committed but never handed to the channels must be re-published even if no caller
        # comes back (one whose answer arrived before the crash never does).
        with contextlib.suppress(RuntimeError):  # no running loop: built outside an async actor
            self._started = self._start_task()

    def _start_task(self) -> asyncio.Task[ShardCore]:
        task = asyncio.get_running_loop().create_task(self._start())
        task.add_done_callback(_report_start_failure)
        return task

    async def _core(self) -> ShardCore:
        """The started core, starting it again if the last start failed (Redis was down, say)."""
        started = self._started
        if started is None or (started.done() and (started.cancelled() or started.exception() is not None)):
            started = self._started = self._start_task()
        return await asyncio.shield(started)

    async def _start(self) -> ShardCore:
        core = await self.core.start()
        # What the previous activation committed but had not handed over died with it: hand
        # everything over again (channels drop what they already have). Skipped without channels:
        # listing 100,000 resident SKUs takes 0.12 s of a restart on the 2-core EPYC.
        if self.fanout.names:
            self.fanout.publish(core.resident())
        if self._endpoint is None:
            try:
                self._endpoint = await self._listen()
            except OSError as exc:  # the link is an optimisation: without it, callers use Ray calls
                log.warning("shard %s: no direct link (%s); gateways use Ray calls", self.core.shard, exc)
        return core

    async def _listen(self) -> dict[str, Any]:
        """Open the link on loopback (callers on this node) and, if ``link_host`` says so, on the
        node's address (callers on other nodes; without it they use Ray calls)."""
        node_ip = ray.util.get_node_ip_address()
        hosts = await self.link.listen_all(self.link_host, node_ip)
        return endpoint_of(hosts, node_ip, self.link.token.decode())

    async def endpoint(self) -> dict[str, Any]:
        """Where and with which token to open a direct batch link (``actors.shard_link``).

        Changes nothing. The token is this activation's: after a restart, callers ask again.
        """
        await self._core()
        if self._endpoint is None:
            raise RuntimeError("this shard has no direct link; use apply_batch")
        return self._endpoint

    async def apply_batch(self, blob: bytes) -> bytes:
        """Decide a batch of events (``engine.events.encode_events``) and answer once it is durable.

        Awaits before committing: reading the batch's idempotency and order records; before and
        after that read, while ``engine.shard_core.MAX_PENDING_PLANS`` batches are decided and
        not yet committed, until commits drain (back-pressure: the caller waits, nothing is
        refused); and the commit itself. The decision in between has no ``await``, so no other
        batch interleaves with it. Ordering: events in a batch are decided in the order given,
        batches in the order they find room after their reads, commits reach Redis in decision
        order. Retry-safe: every event carries its idempotency key, so a batch re-sent after a
        crash, a timeout or a failed commit is answered from the first decisions and changes
        nothing twice; after a failed commit the shard reloads from Redis before deciding again.
        After the commit the changed quantities are queued for the channel actors
        (``ChannelFanout``), never before.
        Returns orjson of ``{"decisions": [...], "changed": {...}}``.
        """
        core = await self._core()
        result = await core.apply_batch(decode_events(blob))
        self.fanout.publish(result.changed)
        return orjson.dumps({"decisions": result.decisions, "changed": result.changed})

    async def ping(self) -> bool:
        """True once the shard has loaded and is not fenced."""
        return not (await self._core()).fenced

    async def get(self, sku: str) -> dict[str, Any] | None:
        """Committed record of one SKU (``None`` if unknown)."""
        return (await self._core()).get(sku)

    async def get_many(self, skus: list[str]) -> dict[str, dict[str, Any] | None]:
        """Committed records of several SKUs in one call."""
        core = await self._core()
        return {sku: core.get(sku) for sku in skus}

    async def stats(self) -> dict[str, Any]:
        """Counters for health and benchmarks: SKUs resident, epoch, load time, process id, and the
        fan-out's ``{delivered, failures, backlog}`` (changes handed over, notifies that failed and
        will be retried, SKUs waiting per channel) for this activation."""
        core, fanout = await self._core(), self.fanout
        delivery = {"delivered": fanout.delivered, "failures": fanout.failures, "backlog": fanout.backlog()}
        return {**core.stats(), "pid": os.getpid(), "fanout": delivery}
