"""``SoakStack``: the local stack on a two-node cluster, a durable private Redis, a restartable
gateway process and a supervisor, so that every part a fault can hit is there to be hit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray

from actors.local_stack import LocalStack, StackSpec
from actors.runtime import ensure_supervisor, kill_supervisor
from tests.fault.private_redis import PrivateRedis
from tests.soak.cluster import TwoNodes, place_shards
from tests.soak.gateway import RestartableGateway


def durable_redis(workdir: Path) -> PrivateRedis:
    """Every commit on disk before Redis answers it: what the README's durability section asks for,
    and what makes a SIGKILL lose nothing that was acknowledged."""
    return PrivateRedis(workdir, "--appendonly", "yes", "--appendfsync", "always")


class SoakStack(LocalStack):
    """``LocalStack`` whose shards alternate between the nodes of ``nodes``, whose store is
    ``redis`` and whose gateway is a ``RestartableGateway``; ``supervisor`` is the deployment's."""

    def __init__(self, spec: StackSpec, nodes: TwoNodes, redis: PrivateRedis) -> None:
        super().__init__(spec)
        self.nodes, self.redis = nodes, redis
        self.gateway: RestartableGateway | None = None
        self.supervisor: Any = None

    def _start_actors(self) -> None:
        assert self.config is not None
        # Before LocalStack's ensure_shards, which then adopts these as current.
        place_shards(self.config, self.config.store.redis_url or "")
        super()._start_actors()

    def _start_gateway(self) -> None:
        assert self.config is not None
        config, url = self.config, self.config.store.redis_url or ""
        self._undo.append(lambda: kill_supervisor(config))
        # The hourly schedule keeps reconciliation out of the run: what converges, the pushes did.
        self.supervisor = ensure_supervisor(config, url, fan_out=True, every_s=3600.0)
        self.gateway = RestartableGateway(config, ray.get_runtime_context().gcs_address)
        self._undo.append(self.gateway.stop)
        self.gateway.start()
        self.gateway_url = self.gateway.url
        self.admin_token = config.gateway.admin_token.get_secret_value()

    @property
    def gateway_pid_now(self) -> int | None:
        return None if self.gateway is None else self.gateway.pid
