"""The gateway's reach into the channel actors: named lookup, concurrent calls, a down actor reported."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import ray
from ray.exceptions import RayError
from starlette.requests import Request

from actors.names import NAMESPACE, channel_name

log = logging.getLogger("skusync.gateway.channels")

STATUS_TIMEOUT_S = 1.0
"""How long ``GET /v1/skus/{sku}`` waits for a channel actor: a busy or dead one must not stall it."""
ADMIN_TIMEOUT_S = 15.0
"""How long a DLQ listing or redrive waits for a channel actor (it reads and writes Redis)."""
UNAVAILABLE = {"error": "unavailable"}


class ChannelUnavailable(Exception):
    """The channel's actor does not exist, died, failed the call, or did not answer in time."""


class ChannelActors:
    """Handles to the deployment's ``ChannelActor``s by channel id, looked up by name when needed.

    A handle is cached after the first lookup and dropped when a call fails, so an actor created
    after the gateway started, or removed and created again, is found on a later call.
    """

    def __init__(self, key_prefix: str, channel_ids: Iterable[str]) -> None:
        self.key_prefix = key_prefix
        self.ids = list(channel_ids)
        self._handles: dict[str, Any] = {}

    async def _handle(self, channel_id: str) -> Any:
        handle = self._handles.get(channel_id)
        if handle is None:
            name = channel_name(self.key_prefix, channel_id)
            try:  # a blocking round trip to Ray's control store: off the event loop
                handle = await asyncio.to_thread(ray.get_actor, name, namespace=NAMESPACE)
            except ValueError:
                raise ChannelUnavailable(f"channel {channel_id}: no actor") from None
            self._handles[channel_id] = handle
        return handle

    async def call(self, channel_id: str, method: str, *args: Any, timeout_s: float) -> Any:
        """``method(*args)`` on the channel's actor; ``ChannelUnavailable`` if it cannot answer."""
        try:
            return await asyncio.wait_for(self._call(channel_id, method, args), timeout_s)
        except (RayError, TimeoutError) as exc:
            self._handles.pop(channel_id, None)
            # The type only: a remote traceback could quote the channel's configuration.
            log.warning("channel %s: %s failed (%s)", channel_id, method, type(exc).__name__)
            raise ChannelUnavailable(f"channel {channel_id}: {type(exc).__name__}") from None

    async def _call(self, channel_id: str, method: str, args: tuple[Any, ...]) -> Any:
        handle = await self._handle(channel_id)
        return await getattr(handle, method).remote(*args)

    async def ask(
        self, channel_ids: Iterable[str], method: str, *args: Any, timeout_s: float
    ) -> dict[str, Any]:
        """``method(*args)`` on several channels at once: channel id -> answer, or ``UNAVAILABLE``."""
        ids = list(channel_ids)

        async def one(cid: str) -> Any:
            try:
                return await self.call(cid, method, *args, timeout_s=timeout_s)
            except ChannelUnavailable:
                return dict(UNAVAILABLE)

        return dict(zip(ids, await asyncio.gather(*(one(cid) for cid in ids)), strict=True))

    async def sku_status(self, sku: str) -> dict[str, dict[str, Any]]:
        """Every configured channel's ``{listed, buffer, synced_version, last_push_at}`` for ``sku``."""
        answers = await self.ask(self.ids, "status", [sku], timeout_s=STATUS_TIMEOUT_S)
        return {cid: a if a == UNAVAILABLE else a.get(sku, dict(UNAVAILABLE)) for cid, a in answers.items()}


def channels_of(request: Request) -> ChannelActors:
    """The ``ChannelActors`` of the app serving ``request`` (set by ``create_app``)."""
    channels: ChannelActors = request.app.state.channels
    return channels
