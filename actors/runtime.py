"""Start or join Ray and create (or find) the named shard and channel actors of a deployment."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import ray

from actors.archiver import Archiver
from actors.channel import ChannelActor
from actors.channel_http import outbound_for
from actors.deployment import ActorSpec, Deployment, is_current, lookup
from actors.names import NAMESPACE, archiver_name, channel_name, shard_name, supervisor_name
from actors.shard import SkuShard
from actors.supervisor import Supervisor
from adapters.base import can_push, default_rate_guess, startup_warnings
from engine.config import ChannelConfig, Config, audit_cap, order_windows
from engine.settings_fingerprint import fingerprint

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
    those with ``ensure_channels``). Called by a process starting the deployment, it first
    replaces shards created with other settings, and on a new shard count all of them
    (``actors.deployment``); inside an actor it only creates missing ones.
    """
    with Deployment(config.store.key_prefix, redis_url) as deployment:
        return deployment.shards(shard_specs(config, redis_url, fan_out), config.engine.vshards)


def shard_specs(config: Config, redis_url: str, fan_out: bool = False) -> list[ActorSpec]:
    """The shards as ``config`` wants them, with the fingerprint of their constructor arguments."""
    channels = (
        {c.id: channel_name(config.store.key_prefix, c.id) for c in pushable(config)} if fan_out else {}
    )
    specs = []
    for i in range(config.engine.shards):
        args = (
            i,
            config.engine.shards,
            config.engine.vshards,
            redis_url,
            config.store.key_prefix,
            config.engine.idempotency_ttl_s,
            audit_cap(config),
            channels,
            config.engine.link_host,
            order_windows(config),
        )
        name = shard_name(config.store.key_prefix, i)
        specs.append(
            ActorSpec(name, SkuShard, args, fingerprint(("shard", args)), "shard", config.engine.shards)
        )
    return specs


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
    out = [c for c in config.channels if can_push(c)]
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
    Called by a process starting the deployment, it first replaces channel actors created with
    other settings (the replacement resumes the same pending set) and stops those of channels no
    longer configured; inside an actor it only creates missing ones.
    """
    channels = pushable(config)
    specs = channel_specs(config, redis_url, channels)
    with Deployment(config.store.key_prefix, redis_url) as deployment:
        by_name = deployment.channels(list(specs.values()))
    handles = {cid: by_name[spec.name] for cid, spec in specs.items()}
    for warning in [*rate_guesses(channels), *kind_warnings(channels)]:
        log.warning(warning)
    return handles


def channel_specs(
    config: Config, redis_url: str, channels: list[ChannelConfig] | None = None
) -> dict[str, ActorSpec]:
    """The channel actors (by channel id) as ``config`` wants them, with the fingerprint of their
    constructor arguments (credentials included: only the hash is kept)."""
    prefix = config.store.key_prefix
    return {
        channel.id: ActorSpec(
            channel_name(prefix, channel.id),
            ChannelActor,
            (channel, redis_url, prefix),
            fingerprint(("channel", channel, redis_url, prefix)),
            "channel",
        )
        for channel in (pushable(config) if channels is None else channels)
    }


def kill_channels(config: Config) -> None:
    """Remove the deployment's detached channel actors (tests, ``demo`` teardown)."""
    for channel in config.channels:
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(channel_name(config.store.key_prefix, channel.id), namespace=NAMESPACE))


def ensure_supervisor(config: Config, redis_url: str, fan_out: bool = True, every_s: float = 3600.0) -> Any:
    """Handle to the deployment's ``Supervisor``, creating it if missing (after shards and channels).

    Detached and ``max_restarts=-1``: its state (watermarks, reports) is in Redis, so a restart only
    re-arms its timers. ``fan_out`` is what it passes to ``ensure_shards`` when it recreates a lost
    shard. Called by a process starting the deployment, it first replaces a supervisor created
    with other settings: every setting but the gateway's, which it never reads.
    With ``[history] postgres_url`` set, the archiver is brought to ``config``'s settings first
    (``ensure_archiver``; ``skusync serve`` starts the deployment through here); without it, an
    archiver left by an earlier configuration is stopped.
    """
    ensure_archiver(config, redis_url)
    with Deployment(config.store.key_prefix, redis_url) as deployment:
        return deployment.supervisor(supervisor_spec(config, redis_url, fan_out, every_s))


def supervisor_spec(
    config: Config, redis_url: str, fan_out: bool = True, every_s: float = 3600.0
) -> ActorSpec:
    """The supervisor as ``config`` wants it; its fingerprint leaves out ``[gateway]``, which
    neither it nor the shards and channel actors it recreates read."""
    args = (config, redis_url, fan_out, every_s)
    settings = ("supervisor", config.model_dump(exclude={"gateway"}), redis_url, fan_out, every_s)
    return ActorSpec(
        supervisor_name(config.store.key_prefix), Supervisor, args, fingerprint(settings), "supervisor"
    )


def kill_supervisor(config: Config) -> None:
    """Remove the deployment's supervisor (tests, teardown)."""
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(supervisor_name(config.store.key_prefix), namespace=NAMESPACE))


def archiver_spec(config: Config, redis_url: str) -> ActorSpec:
    """The archiver as ``config`` wants it: it reads ``[history]``, the key prefix and vshards."""
    args = (config, redis_url)
    settings = ("archiver", config.history, config.store.key_prefix, config.engine.vshards, redis_url)
    name = archiver_name(config.store.key_prefix)
    return ActorSpec(name, Archiver, args, fingerprint(settings), "archiver")


def ensure_archiver(config: Config, redis_url: str) -> Any | None:
    """Handle to the deployment's ``Archiver`` when ``[history] postgres_url`` is set, else None.

    Detached and ``max_restarts=-1`` like the other actors. From a driver, an archiver created
    with other settings is replaced, and one left running without ``postgres_url`` is stopped;
    inside an actor (the supervisor recreating a lost one) it only creates a missing one. Two
    archivers alive at once during a replacement are harmless (``engine.history.archive``).
    """
    with Deployment(config.store.key_prefix, redis_url) as deployment:
        name = archiver_name(config.store.key_prefix)
        if config.history.postgres_url is None:
            if deployment.replacing and deployment.stop(name, close=True):
                deployment.records.drop([name])
            return None
        spec = archiver_spec(config, redis_url)
        handle = lookup(name)
        known = deployment.records.read()
        if deployment.replacing and handle is not None and not is_current(handle, spec, known):
            deployment.stop_supervisor()  # it would recreate the archiver with the old settings
            deployment.stop(name, close=True)
        handle = deployment.found_or_created(spec)
        ray.get(handle.ping.remote())
        return handle


def kill_archiver(config: Config) -> None:
    """Remove the deployment's archiver (tests, teardown)."""
    with contextlib.suppress(ValueError):
        ray.kill(ray.get_actor(archiver_name(config.store.key_prefix), namespace=NAMESPACE))
