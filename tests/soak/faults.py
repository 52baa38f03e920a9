"""The seeded fault scheduler: one fault at a time, each followed by a wait for recovery.

A fault counts as survived when the part it hit is serving again within ``RECOVERY_S`` (a new
activation of the actor answering, the gateway answering on its port, Redis and the shards
answering); whether it lost or doubled anything is for the invariants at the end. Faults are
spaced by intervals drawn from the RNG, and their order and targets come from it too, so a seed
gives the same faults in the same order on every run.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import ray

from tests.soak.cluster import actor_info
from tests.soak.stack import SoakStack

KINDS = ("shard", "channel", "supervisor", "gateway", "redis", "node")
RECOVERY_S = 120.0
POLL_S = 0.1


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` (exceptions count as not yet) until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:
            pass
        time.sleep(POLL_S)
    return False


def restarted(handle: Any, before: int) -> Callable[[], bool]:
    """A new activation of ``handle``'s actor is up (restart count past ``before``) and answers."""

    def check() -> bool:
        info = actor_info(handle)
        if info.get("State") != "ALIVE" or int(info.get("NumRestarts", 0)) <= before:
            return False
        return bool(ray.get(handle.ping.remote(), timeout=5))

    return check


def kill_actor(handle: Any, how: str) -> int:
    """Kill the actor as a crash would (Ray restarts it); returns its restart count before."""
    info = actor_info(handle)
    before = int(info.get("NumRestarts", 0))
    if how == "sigkill":
        os.kill(int(info["Pid"]), signal.SIGKILL)
    else:
        ray.kill(handle, no_restart=False)
    return before


@dataclass
class FaultLog:
    injected: Counter[str] = field(default_factory=Counter)
    survived: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)


class Scheduler:
    """Injects ``plan`` (fault kinds, in an order shuffled by the seed) into ``stack``, ``gap_s``
    (drawn uniformly) apart; with ``repeat`` it shuffles the plan again and goes on until ``end``.

    ``run`` must be called from the main thread: adding a Ray node installs signal handlers.
    """

    def __init__(
        self,
        stack: SoakStack,
        plan: list[str],
        seed: int,
        gap_s: tuple[float, float],
        repeat: bool = False,
    ) -> None:
        self.stack, self.plan, self.gap_s, self.repeat = stack, list(plan), gap_s, repeat
        self.rng = random.Random(seed)
        self.log = FaultLog()

    def run(self, end: float) -> None:
        """Inject until the plan is done (once), or until ``end`` (``time.monotonic``) with ``repeat``."""
        while self.plan:
            order = self.plan[:]
            self.rng.shuffle(order)
            for kind in order:
                gap = self.rng.uniform(*self.gap_s)
                if self.repeat and time.monotonic() + gap >= end:
                    return
                time.sleep(gap)  # the schedule's own spacing, drawn from the seed
                self._inject(kind)
            if not self.repeat:
                return

    def _inject(self, kind: str) -> None:
        t0 = time.monotonic()
        detail, recovered = getattr(self, f"_{kind}")()
        self.log.injected[kind] += 1
        ok = wait_for(recovered, RECOVERY_S)
        if ok:
            self.log.survived[kind] += 1
        event = {
            "kind": kind,
            **detail,
            "at_unix": round(time.time(), 3),
            "recovered": ok,
            "recovery_s": round(time.monotonic() - t0, 2),
        }
        self.log.events.append(event)
        # One line per fault as it happens: a run cut short still shows what it injected.
        print(orjson.dumps(event).decode(), flush=True)

    def _how(self, kind: str) -> str:
        """Ray's kill and a SIGKILL of the worker process by turns, so a plan with two faults of a
        kind has both (Ray sees the first as a kill it asked for, the second as a crash)."""
        return ("sigkill", "ray.kill")[self.log.injected[kind] % 2]

    # -- one method per kind: inject, and say what recovery looks like ------------------------------

    def _shard(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        assert self.stack.shards is not None
        index = self.rng.randrange(len(self.stack.shards.handles))
        how = self._how("shard")
        handle = self.stack.shards.handles[index]
        return {"target": f"shard-{index}", "how": how}, restarted(handle, kill_actor(handle, how))

    def _channel(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        cid = self.rng.choice(sorted(self.stack.channels))
        how = self._how("channel")
        handle = self.stack.channels[cid]
        return {"target": cid, "how": how}, restarted(handle, kill_actor(handle, how))

    def _supervisor(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        how = self._how("supervisor")
        handle = self.stack.supervisor
        return {"target": "supervisor", "how": how}, restarted(handle, kill_actor(handle, how))

    def _gateway(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        gateway = self.stack.gateway
        assert gateway is not None
        gateway.kill()
        gateway.start()  # same port; returns once it listens

        def answering() -> bool:
            return httpx.get(f"{gateway.url}/healthz", timeout=5).status_code < 500

        return {"target": "gateway", "how": "sigkill", "pid": gateway.pid}, answering

    def _redis(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        down_s = self.rng.uniform(0.5, 3.0)
        self.stack.redis.kill()
        time.sleep(down_s)  # the outage itself, drawn from the seed; not a synchronisation
        self.stack.redis.start()  # same port and data directory: the append-only file is replayed
        return {"target": "redis", "how": "sigkill", "down_s": round(down_s, 2)}, self._shards_answer

    def _node(self) -> tuple[dict[str, Any], Callable[[], bool]]:
        nodes = self.stack.nodes
        assert self.stack.shards is not None
        on_worker = self.stack.shards.handles[1::2]
        before = [int(actor_info(h).get("NumRestarts", 0)) for h in on_worker]
        victims = [role for role, node in placement(self.stack).items() if node == "worker"]
        nodes.kill_worker()
        nodes.add_worker()
        checks = [restarted(h, b) for h, b in zip(on_worker, before, strict=True)]
        detail = {
            "target": "worker node",
            "how": "raylet sigkill",
            "actors_on_it": victims,
            "generation": nodes.worker_generation,
        }
        return detail, lambda: all(c() for c in checks) and self._shards_answer()

    def _shards_answer(self) -> bool:
        assert self.stack.shards is not None
        # A read through every shard: each must have reloaded from Redis to answer it.
        self.stack.master()
        return True


def actor_roles(stack: SoakStack) -> dict[str, Any]:
    """Role (``shard-0``, ``channel-shop-1``, ``supervisor``) -> actor handle."""
    roles: dict[str, Any] = {f"channel-{cid}": h for cid, h in stack.channels.items()}
    if stack.shards is not None:
        roles |= {f"shard-{i}": h for i, h in enumerate(stack.shards.handles)}
    roles["supervisor"] = stack.supervisor
    return roles


def placement(stack: SoakStack) -> dict[str, str]:
    """Role -> ``head`` or ``worker``: the node its actor runs on now (``none`` while it has none)."""
    worker = stack.nodes.worker
    worker_id = None if worker is None else worker.node_id
    out = {}
    for role, handle in actor_roles(stack).items():
        node = (actor_info(handle).get("Address") or {}).get("NodeID")
        out[role] = "none" if not node else "worker" if node == worker_id else "head"
    return out
