"""Fan-out from a shard to the channel actors: one coalescing outbox and one notify in flight per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import ray

from engine.outbox import Change, ChangeOutbox

log = logging.getLogger(__name__)
RETRY_S = 0.5
"""Pause before re-sending to a channel actor that failed or is restarting (Ray brings it back)."""


class ChannelFanout:
    """Delivers a shard's committed changes to every channel actor, coalesced per channel.

    ``publish`` never awaits: it adds the changes to each channel's outbox and makes sure a
    delivery task runs. Each task sends the whole outbox in one ``notify`` call and waits for its
    answer, so a channel has at most one notify from this shard in flight and a burst of batches
    becomes one call. A failed notify (actor dead or restarting) puts the changes back and tries
    again after ``RETRY_S``; the channel drops versions it already has, so re-sending is harmless.

    Not durable by itself: changes in an outbox die with the shard process. The shard therefore
    re-publishes every resident SKU when it starts (``SkuShard``), and reconciliation covers the rest.
    """

    def __init__(self, channel_actor_names: Mapping[str, str], namespace: str) -> None:
        self.names = dict(channel_actor_names)
        self.namespace = namespace
        self._outboxes = {cid: ChangeOutbox() for cid in self.names}
        self._handles: dict[str, Any] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.delivered = 0
        self.failures = 0

    def publish(self, changes: Mapping[str, Change]) -> None:
        """Queue ``changes`` (``{sku: {available, version, source}}``) for every channel."""
        if not changes:
            return
        for cid, outbox in self._outboxes.items():
            outbox.add(changes)
            task = self._tasks.get(cid)
            if task is None or task.done():
                self._tasks[cid] = asyncio.get_running_loop().create_task(self._deliver(cid))

    def backlog(self) -> dict[str, int]:
        """SKUs waiting per channel (for stats and tests)."""
        return {cid: len(o) for cid, o in self._outboxes.items()}

    async def _deliver(self, cid: str) -> None:
        outbox, streak = self._outboxes[cid], 0
        while len(outbox):
            taken = outbox.take()
            try:
                await self._handle(cid).notify.remote(taken)
                self.delivered += len(taken)
                streak = 0
            except Exception as exc:  # actor gone, restarting or not created yet: retry later
                self.failures += 1
                self._handles.pop(cid, None)
                outbox.restore(taken)
                if streak == 0:  # once per outage, not every half second
                    log.warning("notify %s failed: %s; retrying", cid, type(exc).__name__)
                streak += 1
                await asyncio.sleep(RETRY_S)

    def _handle(self, cid: str) -> Any:
        handle = self._handles.get(cid)
        if handle is None:
            handle = self._handles[cid] = ray.get_actor(self.names[cid], namespace=self.namespace)
        return handle

    async def close(self) -> None:
        """Stop delivering (what is still queued is dropped; see the class docstring)."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(BaseException):
                await task
