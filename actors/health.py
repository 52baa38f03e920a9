"""Health of a deployment's actors: ping every shard and channel actor, recreate the missing ones."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from actors.names import NAMESPACE, archiver_name, channel_name, shard_name
from engine.config import Config


async def check(
    config: Config, redis_url: str, fan_out: bool, timeout_s: float = 2.0
) -> tuple[dict[str, Any], list[Any] | None]:
    """The health view, and new shard handles if shards had to be recreated (else None).

    View: ``{"status": "ok" | "degraded", "shards": {i: bool}, "channels": {id: bool}, "recreated":
    [...], "checked_at"}``, and ``"archiver"`` (``archiver_stats``) when history is configured.
    A missing actor (killed for good, its name gone) is recreated through
    ``actors.runtime``; one that is restarting answers later and is reported down meanwhile.
    """
    from actors.runtime import (  # runtime imports the supervisor
        ensure_archiver,
        ensure_channels,
        ensure_shards,
        pushable,
    )

    prefix, recreated, handles = config.store.key_prefix, [], None
    shard_names = {i: shard_name(prefix, i) for i in range(config.engine.shards)}
    chan_names = {c.id: channel_name(prefix, c.id) for c in pushable(config)}
    if any(not exists(n) for n in chan_names.values()):
        recreated += [cid for cid, n in chan_names.items() if not exists(n)]
        await asyncio.to_thread(ensure_channels, config, redis_url)
    if any(not exists(n) for n in shard_names.values()):
        recreated += [f"shard-{i}" for i, n in shard_names.items() if not exists(n)]
        handles = await asyncio.to_thread(ensure_shards, config, redis_url, fan_out)
    archiver = None
    if config.history.postgres_url is not None:
        name = archiver_name(prefix)
        if not exists(name):
            recreated.append("archiver")
            await asyncio.to_thread(ensure_archiver, config, redis_url)
        archiver = await archiver_stats(name, timeout_s)
    shards = {str(i): await ping(n, timeout_s) for i, n in shard_names.items()}
    channels = {cid: await ping(n, timeout_s) for cid, n in chan_names.items()}
    ok = all(shards.values()) and all(channels.values())
    view = {
        "status": "ok" if ok else "degraded",
        "shards": shards,
        "channels": channels,
        "recreated": recreated,
        "checked_at": time.time(),
    }
    if archiver is not None:
        view["archiver"] = archiver  # history only: its state never makes the deployment down
    return view, handles


async def archiver_stats(name: str, timeout_s: float) -> dict[str, Any]:
    """The archiver's ``stats()`` with ``alive: True``, or ``{"alive": False}``; never raises."""
    try:
        handle = ray.get_actor(name, namespace=NAMESPACE)
        stats: dict[str, Any] = await asyncio.wait_for(handle.stats.remote(), timeout_s)
    except Exception:  # dead, restarting, missing or slow
        return {"alive": False}
    return {"alive": True, **stats}


def exists(name: str) -> bool:
    """Whether a named actor of the deployment's namespace exists (alive or restarting)."""
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


async def ping(name: str, timeout_s: float) -> bool:
    """True if the named actor answers ``ping`` within ``timeout_s``; never raises."""
    try:
        return bool(await asyncio.wait_for(ray.get_actor(name, namespace=NAMESPACE).ping.remote(), timeout_s))
    except Exception:  # dead, restarting, missing or slow: down, never an error
        return False
