"""A deployment's detached actors, kept on the settings of the configuration that starts them.

Ray keeps a detached actor's constructor arguments for its whole life (restarts re-run
``__init__`` with them), so each actor created here gets a record in the deployment's Redis,
``<prefix>:actors``: its Ray actor id and the fingerprint of the settings it was created with
(``engine.settings_fingerprint``; never the settings). A process starting the deployment
(``skusync serve``: a Ray driver) replaces every live actor whose record is missing, belongs to an
earlier actor of that name, or holds another fingerprint. Code running inside an actor (the
supervisor recreating a lost shard) only creates what is missing: its settings may be the older
ones, and two callers replacing each other's actors would never settle.

Why replacing loses no decision: a new shard's start claims its vshards under a new epoch before it
loads them (``engine.store.reclaim.lua``, ``ShardStore.claim``), and every commit checks the owner
of each vshard it writes (``commit.lua``). A commit of the stopped activation that is still on its
way to Redis either runs before the claim (the new shard loads it) or after it (it writes nothing);
its caller had no answer and sends the batch again, which the idempotency records answer.
A channel actor's pending targets are durable in Redis: its replacement resumes them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import ray
import redis

from actors.names import NAMESPACE, shard_name, supervisor_name
from engine.config import ConfigError
from engine.store.keys import Keys

log = logging.getLogger(__name__)

GONE_TIMEOUT_S = 60.0
"""How long a killed actor's name may take to be released before giving up (Ray: well under 1 s)."""


@dataclass(frozen=True)
class ActorSpec:
    """One actor as the configuration wants it: name, class, constructor arguments, fingerprint."""

    name: str
    cls: Any
    args: tuple[Any, ...]
    fingerprint: str
    kind: str
    """``shard``, ``channel`` or ``supervisor``."""
    shards: int = 0
    """For a shard: the shard count it maps vshards with (a change re-maps every shard at once)."""

    def create(self) -> Any:
        """Start the actor; ``ValueError`` if its name is taken.

        Detached, so it outlives the process that created it; ``max_restarts=-1``, so Ray brings a
        crashed one back (with these arguments); ``max_task_retries=0``: callers decide what to resend.
        """
        options = {"name": self.name, "namespace": NAMESPACE, "lifetime": "detached"}
        return self.cls.options(**options, get_if_exists=False, max_restarts=-1, max_task_retries=0).remote(
            *self.args
        )


@dataclass(frozen=True)
class Record:
    """What the deployment knows of the actor that holds a name."""

    actor_id: str
    fingerprint: str
    kind: str
    shards: int = 0


class Records:
    """The ``<prefix>:actors`` hash: actor name -> JSON ``Record``. Without a Redis URL, empty."""

    def __init__(self, redis_url: str | None, key_prefix: str) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=10) if redis_url else None
        self.key = f"{key_prefix}:actors"
        self.keys = Keys(key_prefix)

    def read(self) -> dict[str, Record]:
        if self.client is None:
            return {}
        raw: dict[bytes, bytes] = self.client.hgetall(self.key)  # type: ignore[assignment]
        return {name.decode(): Record(**orjson.loads(value)) for name, value in raw.items()}

    def write(self, name: str, record: Record) -> None:
        """Best effort: a record that failed to land only costs one needless replacement later."""
        if self.client is None:
            return
        try:
            self.client.hset(self.key, name, orjson.dumps(record.__dict__))
        except redis.RedisError as exc:
            log.warning("no settings record for %s (%s): the next start replaces it", name, exc)

    def drop(self, names: Iterable[str]) -> None:
        names = list(names)
        if self.client is not None and names:
            self.client.hdel(self.key, *names)

    def stored_vshards(self) -> int | None:
        if self.client is None:
            return None
        value = self.client.hget(self.keys.meta(), "vshards")
        return None if value is None else int(value)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def in_driver() -> bool:
    """True in a process that starts the deployment, False inside an actor."""
    return ray.get_runtime_context().get_actor_id() is None


def lookup(name: str) -> Any:
    """The live (or restarting) actor holding ``name`` in the deployment's namespace, or None."""
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


def actor_id(handle: Any) -> str:
    return str(handle._actor_id.hex())


def is_current(handle: Any, spec: ActorSpec, known: dict[str, Record]) -> bool:
    """Whether ``handle`` is the actor recorded under its name, created with ``spec``'s settings."""
    record = known.get(spec.name)
    return (
        record is not None and record.actor_id == actor_id(handle) and record.fingerprint == spec.fingerprint
    )


def _same_map(name: str, handle: Any, known: dict[str, Record], shards: int) -> bool:
    """Whether the live shard ``name`` is known to map vshards for ``shards`` shards."""
    record = known.get(name)
    return record is not None and record.actor_id == actor_id(handle) and record.shards == shards


def named_actors(pattern: str) -> list[str]:
    """Names of live actors of the deployment's namespace that match ``pattern`` entirely."""
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == NAMESPACE and re.fullmatch(pattern, a["name"])
    )


def shard_names(key_prefix: str) -> list[str]:
    """Every live shard actor of the deployment, whatever shard count it was created for."""
    return named_actors(re.escape(shard_name(key_prefix, 0)[:-1]) + r"\d+")


class Deployment:
    """Brings one deployment's actors (by key prefix) to the settings of the caller's configuration."""

    def __init__(self, key_prefix: str, redis_url: str | None) -> None:
        self.prefix = key_prefix
        self.records = Records(redis_url, key_prefix)
        self.replacing = in_driver()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.records.close()

    # -- one actor ----------------------------------------------------------------------------------

    def found_or_created(self, spec: ActorSpec) -> Any:
        """The live actor named ``spec.name``, else a new one (recorded with its fingerprint)."""
        for _ in range(3):
            handle = lookup(spec.name)
            if handle is not None:
                return handle
            try:
                handle = spec.create()
            except ValueError:  # another process created it since the lookup: take that one
                continue
            self.records.write(spec.name, Record(actor_id(handle), spec.fingerprint, spec.kind, spec.shards))
            return handle
        raise RuntimeError(f"actor {spec.name} was created and removed again three times")

    def stop(self, name: str, close: bool = False) -> bool:
        """Kill the actor holding ``name`` for good and wait until the name is free; False if none.

        ``close``: first ask it to ``close`` (a channel actor releases its connections; what it
        has pending stays durable), for at most 10 s.
        """
        handle = lookup(name)
        if handle is None:
            return False
        if close:
            with contextlib.suppress(Exception):  # dead or hung: the kill below settles it
                ray.get(handle.close.remote(), timeout=10)
        ray.kill(handle, no_restart=True)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while lookup(name) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"actor {name} still holds its name {GONE_TIMEOUT_S:g} s after a kill")
            time.sleep(0.02)
        log.warning("stopped actor %s", name)
        return True

    def stop_supervisor(self) -> None:
        """Before any shard or channel actor is replaced: the supervisor recreates missing actors
        with the settings it was created with, which may be the ones being replaced."""
        self.stop(supervisor_name(self.prefix))

    # -- kinds --------------------------------------------------------------------------------------

    def shards(self, specs: list[ActorSpec], vshards: int) -> list[Any]:
        """Handles to the shards of ``specs``, replacing stale ones first (from a driver only).

        Same shard count: each stale shard is stopped and its replacement started and loaded
        before the next, so the others keep answering. Another count (or a live shard whose count
        is not known, or one beyond the new count): every live shard is stopped before any new
        one starts, since an old and a new map assign some vshards to different shard indexes.
        """
        if self.replacing:
            self._check_vshards(vshards)
            known, wanted = self.records.read(), {s.name: s for s in specs}
            live = {n: h for n in shard_names(self.prefix) if (h := lookup(n)) is not None}
            stale = [n for n, h in live.items() if n not in wanted or not is_current(h, wanted[n], known)]
            if stale:
                self.stop_supervisor()
            if any(not _same_map(n, live[n], known, len(specs)) for n in stale):
                log.warning("shard count now %d: stopping every shard before re-mapping vshards", len(specs))
                for name in sorted(live):
                    self.stop(name)
            else:
                for name in stale:
                    self.stop(name)
                    ray.get(self.found_or_created(wanted[name]).ping.remote())
        handles = [self.found_or_created(s) for s in specs]
        ray.get([h.ping.remote() for h in handles])
        return handles

    def _check_vshards(self, vshards: int) -> None:
        """Refuse before anything is stopped: shards of another vshard count never start."""
        stored = self.records.stored_vshards()
        if stored is not None and stored != vshards:
            raise ConfigError(
                "engine.vshards",
                f"the store under key prefix {self.prefix!r} holds data for {stored} vshards "
                f"(configured {vshards}); it cannot change under existing data",
            )

    def channels(self, specs: list[ActorSpec]) -> dict[str, Any]:
        """Handles (by actor name) to the channel actors of ``specs``, replacing stale ones one at
        a time and stopping those of channels no longer configured (from a driver only)."""
        if self.replacing:
            known, wanted = self.records.read(), {s.name: s for s in specs}
            live = {n: h for n in wanted if (h := lookup(n)) is not None}
            stale = [n for n, h in live.items() if not is_current(h, wanted[n], known)]
            removed = [n for n, r in known.items() if r.kind == "channel" and n not in wanted and lookup(n)]
            if stale or removed:
                self.stop_supervisor()
            for name in stale:
                self.stop(name, close=True)
                ray.get(self.found_or_created(wanted[name]).ping.remote())
            for name in removed:
                self.stop(name, close=True)
            self.records.drop(removed)
        handles = {s.name: self.found_or_created(s) for s in specs}
        ray.get([h.ping.remote() for h in handles.values()])
        return handles

    def supervisor(self, spec: ActorSpec) -> Any:
        """Handle to the supervisor, replaced first if it is stale (from a driver only)."""
        handle = lookup(spec.name)
        if self.replacing and handle is not None and not is_current(handle, spec, self.records.read()):
            self.stop(spec.name)
        handle = self.found_or_created(spec)
        ray.get(handle.ping.remote())
        return handle

    def stop_all(self, names: Iterable[str], channel_names: Iterable[str]) -> list[str]:
        """Remove the deployment's actors: ``names`` and ``channel_names`` (those its configuration
        derives), every live shard of any count, and every recorded actor. The supervisor goes
        first (it would recreate the others), then the shards, then the channel actors (closed
        first); their records go too."""
        known = self.records.read()
        channels = {n for n, r in known.items() if r.kind == "channel"} | set(channel_names)
        every = set(names) | channels | set(known) | set(shard_names(self.prefix))
        order = sorted(every, key=lambda n: (n != supervisor_name(self.prefix), n in channels, n))
        stopped = [n for n in order if self.stop(n, close=n in channels)]
        self.records.drop(every)
        return stopped
