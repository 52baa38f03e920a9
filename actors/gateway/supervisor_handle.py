"""Finding the deployment's supervisor from the gateway, without ever blocking its event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from starlette.applications import Starlette

from actors.gateway.state import Gateway
from actors.names import NAMESPACE, supervisor_name


def _lookup(key_prefix: str) -> Any:
    try:
        return ray.get_actor(supervisor_name(key_prefix), namespace=NAMESPACE)
    except ValueError:
        return None


async def supervisor_handle(app: Starlette, create: bool = False) -> Any:
    """The supervisor's handle (kept on ``app.state``), created if missing and ``create``; else None.

    Lookups and creation are Ray calls that block: they run in a worker thread. Never starts Ray.
    """
    state = app.state
    handle = getattr(state, "supervisor", None)
    if handle is not None or not ray.is_initialized():
        return handle
    gateway: Gateway = state.gateway
    config = gateway.config
    handle = await asyncio.to_thread(_lookup, config.store.key_prefix)
    if handle is None and create and config.store.redis_url:
        from actors.runtime import ensure_supervisor

        handle = await asyncio.to_thread(ensure_supervisor, config, config.store.redis_url)
    state.supervisor = handle
    return handle


def forget_supervisor(app: Starlette) -> None:
    """Drop a handle that stopped answering, so the next call looks it up again."""
    app.state.supervisor = None
