"""Client side of the shards: route events to their owners, retry through restarts, merge answers."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from typing import Any

import orjson
import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from actors.shard_link import LinkClient, LinkDown, LinkFailed, LinkRetry, address_for
from engine.partition import Parts, by_owner, join
from engine.routing import ShardMap
from engine.store import FencedError, StoreUnavailable
from engine.wire import WireDecision, WireEvent, encode_events


class CallTimeout(TimeoutError):
    """A batch went unanswered for ``ShardClient.call_timeout_s``; it may have been decided, so it is
    sent again like any retryable failure (its idempotency keys make that safe)."""


# Ray re-raises an actor's exception as a subclass of the original, so these match remote errors.
# FencedError is retryable: the handle already points at the newer activation.
RETRYABLE = (RayActorError, ActorUnavailableError, StoreUnavailable, FencedError, LinkRetry, CallTimeout)

CALL_TIMEOUT_S = 30.0
"""How long one attempt at a batch may go unanswered. Without it a shard that hung (not died: a
dead one breaks its link) held every caller forever, and with them the gateway's in-flight slots.
Far above any answer a working shard gives: a shard at its bound of pending plans waits for Redis
commits, whose own socket timeout is 10 s."""


ENDPOINT_POLL_S = 0.05
"""How often a restarting shard is asked for its link endpoint (see ``ShardClient._endpoint``)."""

Links = dict[int, "asyncio.Task[LinkClient]"]
"""Shard index -> the task opening (or that opened) its direct link."""


class ShardUnavailable(RuntimeError):
    """A shard did not come back within the retry deadline; the events may be re-sent later."""


class ShardClient:
    """Sends batches to shard actors; the same events are re-sent unchanged after a crash.

    Re-sending is safe because every event carries its idempotency key: a shard that had
    committed before dying answers from the stored first decision.
    """

    def __init__(
        self,
        handles: Sequence[Any],
        shard_map: ShardMap,
        retry_deadline_s: float = 60.0,
        direct: bool = True,
    ) -> None:
        self.handles = list(handles)
        self.shard_map = shard_map
        self.retry_deadline_s = retry_deadline_s
        self.direct = direct
        """``submit_async`` sends batches over direct links (``actors.shard_link``), Ray as fallback."""
        # Per event loop: a test may drive the gateway's client from a loop of its own.
        self._loop_links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Links]
        self._loop_links = weakref.WeakKeyDictionary()
        self.links_opened = 0
        self.endpoint_wait_s = 10.0
        self.call_timeout_s = CALL_TIMEOUT_S
        """How long a link to a restarting shard is waited for before the batch goes as a Ray call."""

    def submit(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        """Decide ``events`` (blocking); returns decisions in order and the changed SKUs."""
        per_shard = by_owner(events, self.shard_map.shard, self.shard_map.vshard)
        refs = {
            s: self.handles[s].apply_batch.remote(encode_events([p for _, p in items]))
            for s, items in per_shard.items()
        }
        replies = [self._get_with_retry(s, refs[s], items) for s, items in per_shard.items()]
        return self._joined(events, per_shard, replies)

    def _get_with_retry(self, shard: int, ref: Any, items: list[tuple[int, WireEvent]]) -> dict[str, Any]:
        deadline = time.monotonic() + self.retry_deadline_s
        delay = 0.05
        while True:
            try:
                reply: dict[str, Any] = orjson.loads(ray.get(ref, timeout=self.call_timeout_s))
                return reply
            except (*RETRYABLE, GetTimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise ShardUnavailable(f"shard {shard} unavailable: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                ref = self.handles[shard].apply_batch.remote(encode_events([p for _, p in items]))

    async def submit_async(self, events: list[WireEvent]) -> tuple[list[WireDecision], dict[str, Any]]:
        """``submit`` for an event loop (the gateway): awaits the shards concurrently."""
        per_shard = by_owner(events, self.shard_map.shard, self.shard_map.vshard)
        replies = await asyncio.gather(*(self._call_async(s, items) for s, items in per_shard.items()))
        return self._joined(events, per_shard, replies)

    @staticmethod
    def _joined(
        events: list[WireEvent], per_shard: Parts, replies: list[dict[str, Any]]
    ) -> tuple[list[WireDecision], dict[str, Any]]:
        """Decisions in event order and every shard's changed SKUs, from one reply per shard."""
        changed: dict[str, Any] = {}
        for reply in replies:
            changed.update(reply["changed"])
        return join(events, per_shard, (r["decisions"] for r in replies)), changed

    async def _call_async(self, shard: int, items: list[tuple[int, WireEvent]]) -> dict[str, Any]:
        blob = encode_events([p for _, p in items])
        deadline = time.monotonic() + self.retry_deadline_s
        delay = 0.05
        while True:
            try:
                reply: dict[str, Any] = orjson.loads(await self._send(shard, blob))
                return reply
            except RETRYABLE as exc:
                if time.monotonic() > deadline:
                    raise ShardUnavailable(f"shard {shard} unavailable: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _send(self, shard: int, blob: bytes) -> bytes:
        """One attempt: over the shard's direct link if it has one, else (or if it broke twice)
        through Ray.

        A batch whose link broke may have been decided; sending it again is safe (idempotency
        keys). After a break the batch goes over a link to the shard's next activation, opened
        once it runs (``_endpoint``); if that one breaks too, or none can be opened, the Ray call
        waits for the shard.
        """
        for _ in range(2):
            link = await self._link(shard) if self.direct else None
            if link is None:
                break
            try:
                return await self._timed(link.call(blob), shard)
            except LinkDown:
                self._forget(shard, link)  # the shard died or restarted: a link to its next activation
            except (LinkRetry, LinkFailed):
                self._forget(shard, link)  # a fenced shard has a newer activation with its own endpoint
                raise
        return await self._timed(self.handles[shard].apply_batch.remote(blob), shard)

    async def _timed(self, call: Awaitable[bytes], shard: int) -> bytes:
        """``call``'s answer, or ``CallTimeout`` after ``call_timeout_s``. A slow link is left open:
        other batches on it may be answered, and a late answer to this one is dropped."""
        try:
            reply: bytes = await asyncio.wait_for(call, self.call_timeout_s)
        except TimeoutError:
            raise CallTimeout(f"shard {shard} did not answer within {self.call_timeout_s} s") from None
        return reply

    def _links(self) -> Links:
        """The links of the running event loop (a connection belongs to the loop that opened it)."""
        return self._loop_links.setdefault(asyncio.get_running_loop(), {})

    async def _link(self, shard: int) -> LinkClient | None:
        """The shard's open link, opening one if needed; ``None`` if it cannot be opened now."""
        links = self._links()
        task = links.get(shard)
        if task is None or not _usable(task):
            task = links[shard] = asyncio.get_running_loop().create_task(self._open(shard))
        try:
            return await asyncio.shield(task)
        except Exception:  # restarting, unreachable, or a shard started without a link: Ray this time
            links.pop(shard, None)
            return None

    async def _open(self, shard: int) -> LinkClient:
        endpoint = await self._endpoint(shard)
        host, port = address_for(endpoint, ray.util.get_node_ip_address())
        link = await LinkClient.connect(host, port, endpoint["token"])
        self.links_opened += 1
        return link

    async def _endpoint(self, shard: int) -> dict[str, Any]:
        """The shard's link endpoint, asked again every ``ENDPOINT_POLL_S`` until one call answers.

        While a shard restarts, Ray holds a call made to it and fails it about 1.1 s later even
        when the new activation runs sooner, and a call made once it runs is answered at once: a
        fresh call every 50 ms finds the new activation within 50 ms of its start (the engine
        benchmark's restart probe does the same). A refusal from the shard itself (one without a
        link) is raised at once; Ray's restart errors are waited out until ``endpoint_wait_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.endpoint_wait_s
        calls: set[asyncio.Future[Any]] = set()
        try:
            while True:
                calls.add(asyncio.ensure_future(self.handles[shard].endpoint.remote()))
                done, calls = await asyncio.wait(
                    calls, timeout=ENDPOINT_POLL_S, return_when=asyncio.FIRST_COMPLETED
                )
                for call in done:
                    exc = call.exception()
                    if exc is None:
                        endpoint: dict[str, Any] = call.result()
                        return endpoint
                    if not isinstance(exc, RETRYABLE) or loop.time() > deadline:
                        raise exc
                if loop.time() > deadline:
                    raise TimeoutError(f"shard {shard} gave no endpoint within {self.endpoint_wait_s} s")
        finally:
            for call in calls:
                call.cancel()

    def _forget(self, shard: int, link: LinkClient) -> None:
        """Close ``link`` and stop using it, leaving alone a newer link that already replaced it.

        Several batches in flight on one link fail together; the first to get here may already
        have opened the next activation's link, which a later one must not drop (it would be left
        open and unused, and opened again).
        """
        link.abort()
        links = self._links()
        if _opened(links.get(shard)) is link:
            del links[shard]

    def get(self, sku: str) -> dict[str, Any] | None:
        """Committed record of a SKU from its owner."""
        result: dict[str, Any] | None = ray.get(self.handles[self.shard_map.shard(sku)].get.remote(sku))
        return result

    def get_many(self, skus: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Committed records of many SKUs: one call per owning shard."""
        by_shard: dict[int, list[str]] = defaultdict(list)
        for sku in skus:
            by_shard[self.shard_map.shard(sku)].append(sku)
        out: dict[str, dict[str, Any] | None] = {}
        for part in ray.get([self.handles[s].get_many.remote(ss) for s, ss in by_shard.items()]):
            out.update(part)
        return out

    async def get_async(self, sku: str) -> dict[str, Any] | None:
        """``get`` for an event loop (the gateway's admin API)."""
        result: dict[str, Any] | None = await self.handles[self.shard_map.shard(sku)].get.remote(sku)
        return result

    async def get_many_async(self, skus: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """``get_many`` for an event loop: one call per owning shard, awaited concurrently."""
        by_shard: dict[int, list[str]] = defaultdict(list)
        for sku in skus:
            by_shard[self.shard_map.shard(sku)].append(sku)
        parts = await asyncio.gather(*(self.handles[s].get_many.remote(ss) for s, ss in by_shard.items()))
        out: dict[str, dict[str, Any] | None] = {}
        for part in parts:
            out.update(part)
        return out

    async def ping_async(self, timeout_s: float = 2.0) -> bool:
        """True when every shard answers ``ping`` within ``timeout_s`` (health checks never raise)."""

        async def one(handle: Any) -> bool:
            answer: bool = await handle.ping.remote()
            return answer

        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(one(h) for h in self.handles)), timeout=timeout_s
            )
        except Exception:  # any failure (dead actor, timeout) is "not healthy", never an error
            return False
        return all(answers)


def _usable(task: asyncio.Task[LinkClient]) -> bool:
    """Still opening, or open and not broken."""
    if not task.done():
        return True
    link = _opened(task)
    return link is not None and not link.closed


def _opened(task: asyncio.Task[LinkClient] | None) -> LinkClient | None:
    """The link an opening task produced, or None while it runs or if it failed."""
    if task is None or not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()
