"""``SkuShard``: the Ray actor that owns the SKUs of its virtual shards (a thin shell over ``ShardCore``)."""

from __future__ import annotations

import os
from typing import Any

import orjson
import ray
import redis

from engine.events import decode_events
from engine.routing import ShardMap
from engine.shard_core import ShardCore
from engine.store import FencedError, Keys


@ray.remote(num_cpus=0)
class SkuShard:
    """Owner of every SKU in the vshards ``ShardMap.owned(shard)``.

    A threaded actor with the default concurrency of one: Ray runs its calls one after another, so
    decisions are serialised without locks. Created named, detached, ``get_if_exists`` and with
    ``max_restarts=-1`` by ``actors.runtime``; Ray re-runs ``__init__`` after a crash, which fences
    the previous activation and reloads every owned SKU from Redis.
    """

    def __init__(
        self,
        shard: int,
        shards: int,
        vshards: int,
        redis_url: str,
        key_prefix: str,
        idem_ttl_s: int,
        audit_maxlen: int,
    ) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=10, health_check_interval=30)
        self.core = ShardCore(
            shard,
            ShardMap(shards, vshards),
            client,
            Keys(key_prefix),
            idem_ttl_s=idem_ttl_s,
            audit_maxlen=audit_maxlen,
        ).start()
        self.fenced = False

    def apply_batch(self, blob: bytes) -> bytes:
        """Decide a batch of events (``engine.events.encode_events``) and answer once it is durable.

        Awaits nothing: the read-check-write of every event and the Redis commit run inside this
        one call, and Ray starts the next call only after it returns. Ordering: events are decided
        in the order given; batches in the order Ray delivers them (per caller, submission
        order). Retry-safe: every event carries its idempotency key, so a batch re-sent after a
        crash or a timeout is answered from the first decisions and changes nothing twice. If the
        commit fails, memory is left as it was and the error goes to the caller, who retries.
        Returns orjson of ``{"decisions": [...], "changed": {...}}``.
        """
        if self.fenced:
            raise FencedError(f"shard {self.core.shard} was superseded by a newer activation")
        try:
            result = self.core.apply_batch(decode_events(blob))
        except FencedError:
            self.fenced = True
            raise
        return orjson.dumps({"decisions": result.decisions, "changed": result.changed})

    def get(self, sku: str) -> dict[str, Any] | None:
        """Committed record of one SKU (``None`` if unknown)."""
        return self.core.get(sku)

    def get_many(self, skus: list[str]) -> dict[str, dict[str, Any] | None]:
        """Committed records of several SKUs in one call."""
        return {sku: self.core.get(sku) for sku in skus}

    def stats(self) -> dict[str, Any]:
        """Counters for health and benchmarks: SKUs resident, epoch, load time, process id."""
        return {**self.core.stats(), "pid": os.getpid()}

    def ping(self) -> bool:
        return not self.fenced
