"""A two-node Ray cluster on this machine, with one shard pinned to each node.

Why custom resources rather than node affinity: a soft affinity lets a shard whose node died come
back on the head and stay there, so after the first node fault both shards would share a node; a
hard one to a node id can never be met again once that node is gone. A resource that only the
worker node offers keeps shard 1 on whichever worker node is up, and pending while none is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray._common.utils import get_ray_address_file
from ray.cluster_utils import Cluster

from actors.deployment import Record, Records, actor_id, lookup
from actors.names import NAMESPACE
from actors.runtime import CALLER_HEARTBEAT_MS, shard_specs, start_ray
from engine.config import Config

HEAD, WORKER = "soak_head", "soak_worker"
UNIT = 0.001
"""Of a node's one unit of its resource: any number of actors fit."""


class TwoNodes:
    """A head node and one worker node; ``kill_worker`` SIGKILLs the worker's raylet and its workers,
    ``add_worker`` brings a fresh node with the same resource."""

    def __init__(self, cpus_per_node: int = 4) -> None:
        # Set before any Ray process starts, so they all inherit it (see actors.runtime).
        os.environ.setdefault("RAY_core_worker_internal_heartbeat_ms", str(CALLER_HEARTBEAT_MS))
        self.cpus = cpus_per_node
        with own_address_file():
            self.cluster = Cluster(
                initialize_head=True,
                head_node_args={
                    "num_cpus": cpus_per_node,
                    "resources": {HEAD: 1},
                    "include_dashboard": False,
                },
            )
        self.worker: Any = None
        self.worker_generation = 0
        self.add_worker()
        start_ray(self.cluster.address)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self) -> None:
        self.worker = self.cluster.add_node(num_cpus=self.cpus, resources={WORKER: 1})
        self.worker_generation += 1
        self.cluster.wait_for_nodes()

    def kill_worker(self) -> None:
        """Not graceful: the raylet and every worker of the node get SIGKILL, as a lost machine."""
        assert self.worker is not None
        self.cluster.remove_node(self.worker, allow_graceful=False)
        self.worker = None

    def shutdown(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
        with own_address_file():
            self.cluster.shutdown()


@contextlib.contextmanager
def own_address_file() -> Iterator[None]:
    """Leave Ray's "current cluster" file as it was: ``Cluster`` writes its head's address there
    (and deletes the file at shutdown), and while it names the soak's cluster every ``ray.init()``
    on this machine without an address joins it instead of starting its own, which failed the
    test sessions running beside a soak (``num_cpus`` given while joining a cluster)."""
    path = Path(get_ray_address_file(None))
    before = path.read_text() if path.exists() else None
    try:
        yield
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(before)


def place_shards(config: Config, redis_url: str) -> list[Any]:
    """Create the deployment's shards (fan-out on) with even shards on the head and odd ones on the
    worker, recorded as ``ensure_shards`` records them, so it and every later driver adopt them."""
    records = Records(redis_url, config.store.key_prefix)
    handles = []
    try:
        for i, spec in enumerate(shard_specs(config, redis_url, fan_out=True)):
            handle = lookup(spec.name)
            if handle is None:
                handle = spec.cls.options(
                    name=spec.name,
                    namespace=NAMESPACE,
                    lifetime="detached",
                    get_if_exists=False,
                    max_restarts=-1,
                    max_task_retries=0,
                    resources={(WORKER if i % 2 else HEAD): UNIT},
                ).remote(*spec.args)
                records.write(spec.name, Record(actor_id(handle), spec.fingerprint, spec.kind, spec.shards))
            handles.append(handle)
    finally:
        records.close()
    ray.get([h.ping.remote() for h in handles])
    return handles


def actor_info(handle: Any) -> dict[str, Any]:
    """GCS's entry for the actor: ``State``, ``Pid``, ``NumRestarts``, ``Address`` (no dashboard needed)."""
    info: dict[str, Any] = ray._private.state.actors(actor_id(handle))
    return info
