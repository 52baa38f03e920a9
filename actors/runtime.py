"""Start or join Ray and create (or find) the named shard and channel actors of a deployment."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import ray

from actors.channel import ChannelActor
from actors.channel_http import outbound_for
from actors.names import NAMESPACE, channel_name, shard_name, supervisor_name
from actors.shard import SkuShard
from actors.supervisor import Supervisor
from adapters.base import can_push, default_rate_guess, startup_warnings
from engine.config import ChannelConfig, Config

log = logging.getLogger(__name__)
__all__ = [
    "NAMESPACE",
    "channel_name",
    "ensure_channels",
    "ensure_shards",
    "pushable",
    "shard_name",
    "start_ray",
]


CALLER_HEARTBEAT_MS = 100
"""Ray's core-worker book-keeping tick (default 1,000 ms). With the default, a shard killed with
``ray.kill`` answered its callers again after 2.0 s although Ray had it running after 0.4 s (GCS
log); with 100 ms, after 1.1 s (1,000 SKUs) and 1.3 s (100,000 SKUs). It costs 10 wake-ups a second
per Ray process."""


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join ``address`` (a running cluster) or start a local Ray for this process; idempotent."""
    if ray.is_initialized():
        return
    # Set before ray.init so this process (the caller that waits for a restarted shard) and, for a
    # local cluster, every Ray process started from it use it; an explicit setting wins.
    os.environ.setdefault("RAY_core_worker_internal_heartbeat_ms", str(CALLER_HEARTBEAT_MS))
    kwargs: dict[str, Any] = {
        "namespace": NAMESPACE,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)


def ensure_shards(config: Config, redis_url: str, fan_out: bool = False) -> list[Any]:
    """Handles to the deployment's shard actors, creating the missing ones.

    Detached so they outlive the process that created them (a gateway restart must not drop
    master stock), ``max_restarts=-1`` so Ray brings a crashed shard back, which reloads from Redis.
    ``fan_out``: the shards hand every committed change to the configured channels' actors (start
    those with ``ensure_channels``). Arguments count only when a shard is created: an existing
    shard keeps the ones it was created with.
    """
    channels = (
        {c.id: channel_name(config.store.key_prefix, c.id) for c in pushable(config)} if fan_out else {}
    )
    handles = [
        SkuShard.options(  # type: ignore[attr-defined]
            name=shard_name(config.store.key_prefix, i),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
        ).remote(
            i,
            config.engine.shards,
            config.engine.vshards,
            redis_url,
            config.store.key_prefix,
            config.engine.idempotency_ttl_s,
            config.store.audit_maxlen,
            channels,
        )
        for i in range(config.engine.shards)
    ]
    ray.get([h.ping.remote() for h in handles])
    return handles


def kill_shards(config: Config) -> None:
    """Remove the deployment's detached shard actors (tests, ``demo`` teardown)."""
    for i in range(config.engine.shards):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(shard_name(config.store.key_prefix, i), namespace=NAMESPACE))


def pushable(config: Config) -> list[ChannelConfig]:
    """The configured channels a channel actor can push to: those whose kind has an outbound adapter.

    The others (kinds accepted in config but not built yet) are named in a warning once per call,
    so a deployment that lists one starts and syncs every other channel instead of failing.
    """
    out = [c for c in config.channels if can_push(c.kind)]
    for c in config.channels:
        if c not in out:
            log.warning("channel %s: kind %s has no outbound adapter; nothing is pushed to it", c.id, c.kind)
    return out


def rate_guesses(channels: list[ChannelConfig]) -> list[str]:
    """One warning per channel left on a default budget its platform never published."""
    out = []
    for c in channels:
        why = None if c.rate_limit is not None else default_rate_guess(c.kind)
        if why:
            per_s, burst = outbound_for(c).default_rate
            out.append(
                f"channel {c.id}: no rate_limit configured, so {per_s:g} requests/s (burst {burst:g}) "
                f"is a guess ({why}); set rate_limit to what the store allows"
            )
    return out


def kind_warnings(channels: list[ChannelConfig]) -> list[str]:
    """What each channel's kind warns of in its configuration (Shopify: an API version Shopify no
    longer serves, a missing location)."""
    return [w for c in channels for w in startup_warnings(c)]


def ensure_channels(config: Config, redis_url: str) -> dict[str, Any]:
    """Handles (by channel id) to one ``ChannelActor`` per pushable channel, creating missing ones.

    Detached and ``max_restarts=-1`` like the shards: a crashed channel actor comes back and resumes
    from its durable pending set. ``max_task_retries=0``: callers decide whether to resend a notify.
    """
    channels = pushable(config)
    handles = {
        channel.id: ChannelActor.options(  # type: ignore[attr-defined]
            name=channel_name(config.store.key_prefix, channel.id),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
        ).remote(channel, redis_url, config.store.key_prefix)
        for channel in channels
    }
    ray.get([h.ping.remote() for h in handles.values()])
    for warning in [*rate_guesses(channels), *kind_warnings(channels)]:
        log.warning(warning)
    return handles


def kill_channels(config: Config) -> None:
    """Remove the deployment's detached channel actors (tests, ``demo`` teardown)."""
    for channel in config.channels:
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(channel_name(config.store.key_prefix, channel.id), namespace=NAMESPACE))


def ensure_supervisor(config: Config, redis_url: str, fan_out: bool = True, every_s: float = 3600.0) -> Any:
    """Handle to the deployment's ``Supervisor``, creating it if missing (after shards and channels).

    Detached and ``max_restarts=-1``: its state (watermarks, reports) is in Redis, so a restart only
    re-arms its timers. ``fan_out`` is what it passes to ``ensure_shards`` when it recreates a lost
    shard. Arguments count only when the supervisor is created.
    """
    handle = Supervisor.options(  # type: ignore[attr-defined]
        name=supervisor_name(config.store.key_prefix),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=0,
    ).remote(config, redis_url, fan_out, every_s)
    ray.get(handle.ping.remote())
    return handle


def kill_supervisor(config: Config) -> None:
    """Remove the deployment's supervisor (tests, teardown)."""
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(supervisor_name(config.store.key_prefix), namespace=NAMESPACE))
